"""`tuneforge predict --input` through the CLI: a malformed input file is exit 2 with file:line, before any
model is loaded (the run directory here does not even exist)."""

from __future__ import annotations

import pytest

from tuneforge.cli import main


@pytest.mark.parametrize("name, content, line, what", [
    ("in.csv", 'text\nfirst\n"second\nthird\n', 3, "never closed"),          # was: exit 0, rows swallowed
    ("in.csv", "id,text\n1,fine\n2\n", 3, "fields where the header has 2"),    # was: AttributeError
    ("in.jsonl", '{"text": "ok"}\n{"text": null}\n', 2, "null"),              # was: predicted as "None"
])
def test_predict_refuses_malformed_input(tmp_path, capsys, name, content, line, what):
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    rc = main(["predict", str(tmp_path / "run"), "--input", str(src), "--output", str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"{src}:{line}: " in err and what in err and "\n  fix: " in err
    assert not (tmp_path / "out.jsonl").exists()
