"""tuneforge.writing: files written all or nothing, and directories built whole before they replace anything."""

from __future__ import annotations

import pytest

from tuneforge.errors import TuneforgeError
from tuneforge.writing import atomic_write, dir_written_whole


def _build(out, overwrite=False, fail=False):
    with dir_written_whole(out, "run.json", "test run", overwrite, where="--output") as tmp:
        (tmp / "run.json").write_text("new", encoding="utf-8")
        if fail:
            raise RuntimeError("killed halfway")


def test_a_directory_appears_whole_and_replaces_a_finished_one_only_when_asked(tmp_path):
    out = tmp_path / "run"
    _build(out)
    assert (out / "run.json").read_text(encoding="utf-8") == "new"
    (out / "run.json").write_text("old", encoding="utf-8")
    with pytest.raises(TuneforgeError, match="already holds a finished test run"):
        _build(out)
    _build(out, overwrite=True)
    assert (out / "run.json").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no partial or old sibling left


def test_a_failed_build_leaves_the_old_directory_as_it_was(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        _build(out, overwrite=True, fail=True)
    assert (out / "run.json").read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("make", ["file", "foreign"])
def test_a_file_or_a_foreign_directory_is_refused_before_any_work(tmp_path, make):
    out = tmp_path / "run"
    if make == "file":
        out.write_text("x", encoding="utf-8")
    else:
        out.mkdir()
        (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(TuneforgeError) as e:
        _build(out)
    assert e.value.where == "--output"
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_atomic_write_creates_parents_and_replaces(tmp_path):
    p = atomic_write(tmp_path / "a" / "b.txt", "one")
    atomic_write(p, "two")
    assert p.read_text(encoding="utf-8") == "two" and [x.name for x in p.parent.iterdir()] == ["b.txt"]
