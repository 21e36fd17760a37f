"""PSI and length bins, the reference written at train time, drift measured against it, runs without
one, and the request log's input_chars column added to a database made by an older tuneforge."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from types import SimpleNamespace

import pytest

from tuneforge.cli import main
from tuneforge.monitor.drift import REFERENCE, length_bins, length_edges, load_reference, measure, psi
from tuneforge.store.db import open_database
from tuneforge.store.requestlog import LogRow, RequestLog, ensure_schema, read_rows, window_stats

# The request_log table exactly as the first release created it (before input_chars).
OLD_DDL = """CREATE TABLE request_log (
        ts DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
        shadow INTEGER NOT NULL, latency_ms DOUBLE PRECISION NOT NULL, label TEXT, confidence DOUBLE PRECISION,
        input_sha256 TEXT NOT NULL)"""


def row(label="pos", confidence=0.9, chars=20):
    return SimpleNamespace(label=label, confidence=confidence, input_chars=chars)


def test_psi_values():
    assert psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0
    # (0.9-0.5) ln(0.9/0.5) + (0.1-0.5) ln(0.1/0.5)
    assert psi({"a": 0.5, "b": 0.5}, {"a": 0.9, "b": 0.1}) == pytest.approx(0.4 * math.log(1.8) + 0.4 * math.log(5))
    unseen = psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.4, "c": 0.1})  # a label the reference never produced
    assert math.isfinite(unseen) and unseen > 0.25


def test_length_bins_are_deciles_and_collapse_repeats():
    edges = length_edges(list(range(1, 101)))
    assert len(edges) == 9 and edges == sorted(edges)
    shares = length_bins(range(1, 101), edges)
    assert sum(shares.values()) == pytest.approx(1) and max(shares.values()) <= 0.11
    assert length_edges([10] * 50 + [11] * 50) == [10, 11]  # many equal lengths: few bins, not empty ones
    assert length_bins([10, 11, 500], [10, 11]) == pytest.approx({"<=10": 1 / 3, "11-11": 1 / 3, ">11": 1 / 3})


def test_measure_without_reference_or_lengths():
    rows = [row(), row("neg", 0.7, None)]
    m = measure(rows, None)
    assert m["status"] == "no reference" and m["psi_label"] is None and m["mean_confidence"] == 0.8
    ref = {"labels": {"pos": 0.5, "neg": 0.5}, "mean_confidence": 0.85,
           "length": {"edges": [10, 30], "shares": {"<=10": 0.2, "11-30": 0.6, ">30": 0.2}}}
    m = measure([row("pos", 0.9, None), row("neg", 0.8, None)], ref)  # rows logged before input_chars existed
    assert m["psi_label"] == 0 and m["psi_length"] is None and m["status"] == "ok"
    assert m["confidence_delta"] == pytest.approx(0.0, abs=1e-9)
    m = measure([row("pos", 0.5, 500)] * 10, ref)
    assert m["psi_length"] > 0.25 and m["status"] == "alert" and m["confidence_delta"] == pytest.approx(-0.35)
    assert measure([], ref)["status"] == "no data"


def test_train_writes_a_reference_that_its_own_validation_matches(monitored_run):
    from tuneforge.data.splits import load_splits
    from tuneforge.monitor.drift import example_text
    from tuneforge.rundir import load_run
    from tuneforge.store.requestlog import summarize

    ref = json.loads((monitored_run / REFERENCE).read_text())
    assert ref["split"] == "validation" and ref["n"] > 0 and set(ref["labels"]) <= {"pos", "neg"}
    assert sum(ref["labels"].values()) == pytest.approx(1)
    assert 0.5 <= ref["mean_confidence"] <= 1
    assert ref["length"]["unit"] == "chars" and ref["length"]["edges"] == sorted(ref["length"]["edges"])
    assert sum(ref["length"]["shares"].values()) == pytest.approx(1)
    # Served exactly what it was validated on, a model shows no drift.
    run = load_run(monitored_run)
    splits = load_splits(run.cfg)
    val = [example_text(e) for e in splits.validation]
    rows = [SimpleNamespace(label=lab, confidence=c, input_chars=len(t))
            for t, (lab, c) in zip(val, (summarize(p, run.task) for p in run.predict(val)))]
    m = measure(rows, load_reference(monitored_run))
    assert m["psi_label"] == pytest.approx(0, abs=1e-3)
    assert m["mean_confidence"] == pytest.approx(ref["mean_confidence"], abs=1e-3)


def test_reference_command_for_an_old_run_and_export_fallback(monitored_run, tmp_path, capsys):
    old = tmp_path / "old-run"
    shutil.copytree(monitored_run, old)
    (old / REFERENCE).unlink()  # a run trained before references existed
    assert load_reference(old) is None
    assert main(["monitor", "reference", str(old)]) == 0
    rebuilt, original = load_reference(old), load_reference(monitored_run)
    assert rebuilt["labels"] == pytest.approx(original["labels"]) and rebuilt["length"] == original["length"]
    assert main(["monitor", "reference", str(old)]) == 2  # never overwritten silently
    assert "--overwrite" in capsys.readouterr().err
    export = tmp_path / "export"  # an export made before exports carried the reference: its source run's
    export.mkdir()
    (export / "export.json").write_text(json.dumps({"source_run": str(old)}))
    assert load_reference(export) == rebuilt
    (export / "export.json").write_text("{not json")
    assert load_reference(export) is None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_input_chars_column_is_added_to_an_old_database(tmp_path, backend, request):
    old_row = "INSERT INTO request_log VALUES (1.0, 'r1', 'sentiment', 1, 0, 3.5, 'pos', 0.9, 'abc')"
    if backend == "sqlite":
        path = tmp_path / "registry.db"
        with sqlite3.connect(path) as con:  # a database file written by the release before input_chars
            con.execute(OLD_DDL)
            con.execute(old_row)
    else:
        import psycopg

        from .conftest import fresh_postgres
        path = fresh_postgres(request.getfixturevalue("postgres_url"))
        with psycopg.connect(path, autocommit=True) as con:
            con.execute(OLD_DDL)
            con.execute(old_row)
    db = open_database(path)
    log = RequestLog(db)  # what the server does at startup
    ensure_schema(db)  # a second replica starting: nothing more to add
    log.record([LogRow(2.0, "r2", "sentiment", 1, 0, 4.0, "neg", 0.8, "def", 12)])
    log.close()
    rows = read_rows(db, "sentiment")
    assert [(r.request_id, r.input_chars) for r in rows] == [("r1", None), ("r2", 12)]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_window_stats_from_sql_measure_what_the_rows_measure(tmp_path, backend, request):
    """The server's periodic check aggregates in the database; its numbers must be those of the rows."""
    if backend == "sqlite":
        db = open_database(tmp_path / "registry.db")
    else:
        from .conftest import fresh_postgres
        db = open_database(fresh_postgres(request.getfixturevalue("postgres_url")))
    rows = [LogRow(float(t), f"r{t}", "sentiment", 1 + t % 2, 0, 3.0, [None, "pos", "neg", "neg"][t % 4],
                   None if t % 7 == 0 else round(0.5 + (t % 5) / 10, 2), "h", None if t % 11 == 0 else 5 + t % 40)
             for t in range(300)]
    rows.append(LogRow(5.0, "other", "another-model", 1, 0, 3.0, "pos", 0.9, "h", 10))
    log = RequestLog(db)
    log.record(rows)
    log.close()
    ref = {"labels": {"pos": 0.5, "neg": 0.5}, "mean_confidence": 0.7,
           "length": {"edges": [10, 20, 30], "shares": {"<=10": 0.25, "11-20": 0.25, "21-30": 0.25, ">30": 0.25}}}
    stats = window_stats(db, "sentiment", since=100.0)
    assert sorted(stats) == [1, 2]
    for v in (1, 2):
        want = measure([r for r in rows if r.name == "sentiment" and r.version == v and r.ts >= 100.0], ref)
        got = measure(stats[v], ref)
        assert got["n"] == want["n"] == 100 and got["status"] == want["status"]
        for k, val in want.items():
            assert got[k] == (pytest.approx(val, abs=1e-4) if isinstance(val, float) else val), k


def test_ner_reference_uses_the_served_summary():
    from tuneforge.data.readers import TokenExample
    from tuneforge.monitor.drift import build_reference, example_text

    assert example_text(TokenExample(list("张三在北京"), ["O"] * 5)) == "张三在北京"  # character-level Chinese
    assert example_text(TokenExample(["John", "lives"], ["O", "O"])) == "John lives"

    def predict(texts):  # the served NER shape: entities with confidences
        return [{"text": t, "entities": [{"type": "LOC", "confidence": 0.8}] if "北京" in t else []} for t in texts]

    ref = build_reference(predict, ["张三在北京", "李四在公司", "张三在北京"], ["a" * 5] * 10, "token-classification", "validation")
    assert ref["labels"] == pytest.approx({"LOC": 2 / 3, "O": 1 / 3}) and ref["mean_confidence"] == 0.8
    assert ref["length"]["edges"] == [5] and ref["length"]["shares"] == {"<=5": 1.0}
