"""The SQLite store: counts per topic and window, load_trends' exact shape, one alert per surge carrying
negative examples, a file never counted twice, and a database never re-read with another window width."""

from __future__ import annotations

import sqlite3

import pytest

from tuneforge.apps.monitor.detect import DetectorOptions
from tuneforge.apps.monitor.store import ingest, load_trends
from tuneforge.errors import TuneforgeError

from .conftest import stream

SURGE = ("payments", 60, 64, 0.8)  # hours 60-63 of topic payments: 80 % negative instead of 30 %


@pytest.mark.parametrize("method", ["zscore", "ewma", "cusum"])
def test_streamed_surge_alerts_once_with_examples(tmp_path, method):
    items = stream(96, surges=[SURGE], seed=4)
    db = tmp_path / "m.db"
    got = []
    for h in range(0, 96, 8):  # arrives in batches of eight hours, as from a watched directory
        batch = items[h * 80:(h + 8) * 80]  # 2 topics x 40 texts per hour
        got += ingest(db, batch, detector=DetectorOptions(method=method)).alerts
    # z-score fires on the first surge hour; EWMA and CUSUM may need one more to build up
    ok = ["2026-03-03T12:00:00Z"] + (["2026-03-03T13:00:00Z"] if method != "zscore" else [])
    assert len(got) == 1 and got[0]["topic"] == "payments" and got[0]["at"] in ok, got
    a = got[0]
    assert a["negative_share"] > 0.6 and 0.2 < a["baseline"] < 0.4 and a["method"] == method
    assert len(a["examples"]) == 3 and all(" was " in t and t.startswith("the payments") for t in a["examples"])
    trends = load_trends(db)
    assert set(trends) == {"windows", "alerts"}
    assert len(trends["windows"]) == 96 * 2 and sum(w["total"] for w in trends["windows"]) == len(items)
    w = trends["windows"][0]
    assert set(w) == {"start", "topic", "total", "negative", "negative_share"} and w["start"] == "2026-03-01T00:00:00Z"
    assert w["negative_share"] == pytest.approx(w["negative"] / w["total"])
    assert trends["alerts"] == [{"at": a["at"], "topic": "payments", "negative_share": a["negative_share"],
                                 "baseline": a["baseline"], "examples": a["examples"]}]
    # the same data again: counts double (it is new data to the store) but the surge is not re-announced
    assert ingest(db, items[:80], detector=DetectorOptions(method=method)).alerts == []


def test_a_file_is_counted_once_and_topicless_items_go_to_general(tmp_path):
    db = tmp_path / "m.db"
    items = [{"time": "2026-03-01T00:00:00Z", "text": "bad", "label": "negative"},
             {"time": "2026-03-01T00:30:00Z", "text": "good", "label": "positive"}]
    assert ingest(db, items, source=("abc", "f.jsonl")).ingested == 2
    assert ingest(db, items, source=("abc", "f-copy.jsonl")).skipped_file
    assert [(w["topic"], w["total"], w["negative"]) for w in load_trends(db)["windows"]] == [("general", 2, 1)]


def test_classifier_decides_and_labels_are_needed_without_one(tmp_path):
    db = tmp_path / "m.db"
    items = [{"time": 1772323200, "text": "awful"}, {"time": 1772323201, "text": "lovely"}]
    res = ingest(db, items, classify=lambda texts: [t == "awful" for t in texts])
    assert (res.ingested, res.negative) == (2, 1)
    with pytest.raises(TuneforgeError) as e:
        ingest(db, items)
    assert "no sentiment label" in e.value.what and "--model" in e.value.fix


def test_window_width_is_fixed_per_database(tmp_path):
    db = tmp_path / "m.db"
    ingest(db, [{"time": 1772323200, "text": "x", "label": "neg"}], window_s=3600)
    with pytest.raises(TuneforgeError) as e:
        ingest(db, [{"time": 1772323200, "text": "x", "label": "neg"}], window_s=900)
    assert "3600" in e.value.what and "--window" in e.value.fix
    assert load_trends(db)["windows"][0]["total"] == 1  # the refused batch left nothing behind


def test_bad_database_paths(tmp_path):
    with pytest.raises(TuneforgeError, match="no monitor database"):
        load_trends(tmp_path / "none.db")
    (tmp_path / "junk.db").write_text("not sqlite at all, just text" * 100)
    with pytest.raises(TuneforgeError, match="not a database"):
        ingest(tmp_path / "junk.db", [{"time": 1772323200, "text": "x", "label": "neg"}])
    with pytest.raises(TuneforgeError, match="directory"):
        ingest(tmp_path, [{"time": 1772323200, "text": "x", "label": "neg"}])
    assert sqlite3.connect(tmp_path / "ok.db")  # (a plain path is fine)
