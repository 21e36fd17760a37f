"""A/B routing (stable hash, weights, stickiness) and the report read back from a real request log."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time

import pytest

from tuneforge.serve.ab import BUCKETS, Route, bucket, format_report, report
from tuneforge.store.db import open_database
from tuneforge.store.requestlog import LogRow, RequestLog, read_rows, summarize, text_sha256

from .conftest import fresh_postgres


def test_bucket_is_sha256_and_the_same_in_every_process():
    expected = int.from_bytes(hashlib.sha256(b"sentiment\x00alice").digest()[:8], "big") % BUCKETS
    assert bucket("sentiment", "alice") == expected
    code = "from tuneforge.serve.ab import bucket; print(bucket('sentiment', 'alice'))"
    for seed in ("1", "2"):  # Python's own hash() would differ between these two processes
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
        assert int(out) == expected


def test_split_follows_weights_and_growing_a_share_moves_nobody_back():
    r10 = Route.make("m", {1: 90, 2: 10})
    r20 = Route.make("m", {1: 80, 2: 20})
    callers = [f"caller-{i}" for i in range(10_000)]
    on2_at10 = {c for c in callers if r10.choose(c) == 2}
    on2_at20 = {c for c in callers if r20.choose(c) == 2}
    assert abs(len(on2_at10) - 1000) < 100 and abs(len(on2_at20) - 2000) < 130
    assert on2_at10 <= on2_at20  # raising v2's share only adds callers to v2
    assert all(r10.choose(c) == r10.choose(c) for c in callers[:100])
    # zero weights are dropped; without a caller id the choice is random but still follows the weights
    assert Route.make("m", {1: 0, 2: 5}).weights == ((2, 5.0),)
    rng = random.Random(0)
    picks = [r10.choose(None, rng) for _ in range(5000)]
    assert 350 < picks.count(2) < 650
    assert Route.make("m", {3: 1}, shadow=4).versions() == {3, 4}


def test_each_task_summarizes_its_own_predictions_for_the_log():
    from tuneforge.tasks.base import get_task
    text, ner = get_task("text-classification"), get_task("token-classification")
    assert summarize({"label": "pos", "probabilities": {"neg": 0.2, "pos": 0.8}}, text) == ("pos", 0.8)
    ents = {"entities": [{"type": "PER", "confidence": 0.9}, {"type": "LOC", "confidence": 0.7}]}
    label, conf = summarize(ents, ner)
    assert label == "LOC,PER" and abs(conf - 0.8) < 1e-9
    assert summarize({"entities": []}, ner) == ("O", None)
    assert summarize({"label": "cat", "confidence": 0.5}, None) == ("cat", 0.5)  # unknown task: a classifier's


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_report_pairs_shadow_with_primary_and_compares_versions(request, backend, tmp_path):
    db = open_database(fresh_postgres(request.getfixturevalue("postgres_url")) if backend == "postgres"
                       else tmp_path / "log.db")
    log = RequestLog(db)
    t = time.time()
    rows = []
    # 10 requests answered by v1 with a v2 shadow copy; the shadow disagrees on 3 of them
    for i in range(10):
        h = text_sha256(f"text {i}")
        rows.append(LogRow(t, f"r{i}", "m", 1, 0, 10.0 + i, "pos", 0.9, h))
        rows.append(LogRow(t, f"r{i}", "m", 2, 1, 20.0 + i, "neg" if i < 3 else "pos", 0.7, h))
    # A/B traffic on v3: two of the same inputs as v1 saw, one label different
    rows.append(LogRow(t, "a1", "m", 3, 0, 5.0, "pos", 0.6, text_sha256("text 4")))
    rows.append(LogRow(t, "a2", "m", 3, 0, 5.0, "neg", 0.6, text_sha256("text 5")))
    rows.append(LogRow(t, "x", "other", 1, 0, 1.0, "pos", 0.5, text_sha256("elsewhere")))
    log.record(rows)
    log.close()
    assert len(read_rows(db, "m")) == 22  # one table, only hashes of the inputs
    assert all(len(r.input_sha256) == 64 for r in read_rows(db, "m"))

    rep = report(db, "m")
    assert rep["baseline"] == 1 and rep["requests"] == 22
    assert rep["shadow_agreement"] == [{"primary": 1, "shadow": 2, "n": 10, "agreement": 0.7}]
    assert rep["ab_agreement"] == [{"baseline": 1, "version": 3, "common_inputs": 2, "agreement": 0.5}]
    by = {(v["version"], v["role"]): v for v in rep["versions"]}
    assert by[(1, "primary")]["p50_ms"] == 14.5 and by[(1, "primary")]["mean_confidence"] == 0.9
    assert by[(2, "shadow")]["delta_vs_baseline"]["p50_ms"] == 10.0
    assert by[(2, "shadow")]["delta_vs_baseline"]["mean_confidence"] == -0.2
    text = format_report(rep)
    assert "shadow v2 agrees with primary v1 on 70.00% of 10" in text
    assert format_report(report(db, "nothing")) == "nothing: no requests logged yet"
