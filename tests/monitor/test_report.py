"""`tuneforge monitor report` over a real request log (SQLite, written by the server's own writer) with
one calm hour and one drifted hour, for a version with a reference and one without."""

from __future__ import annotations

import json
import shutil

import pytest

from tuneforge.cli import main
from tuneforge.monitor.drift import REFERENCE, load_reference
from tuneforge.monitor.report import parse_since
from tuneforge.store.registry import Registry
from tuneforge.store.requestlog import LogRow, RequestLog, text_sha256

from .conftest import in_distribution, shifted

HOUR = 3600.0
T0 = 1_700_000_000 // 3600 * 3600  # a whole UTC hour, so the windows are exactly the two hours below


@pytest.fixture
def logged(monitored_run, tmp_path):
    """Registry: v1 (with reference), v2 (a copy without one). Log: hour 0 served like the validation
    split, hour 1 long Chinese texts all answered 'neg' with low confidence."""
    old = tmp_path / "old-run"
    shutil.copytree(monitored_run, old)
    (old / REFERENCE).unlink()
    reg = Registry(tmp_path / "registry")
    reg.add("sentiment", monitored_run, stage="production")
    reg.add("sentiment", old)
    ref = load_reference(monitored_run)
    labels = sorted(ref["labels"], key=ref["labels"].get, reverse=True)
    rows = []
    for i, text in enumerate(in_distribution(100)):  # hour 0: labels in the reference's proportions
        lab = labels[0] if i / 100 < ref["labels"][labels[0]] else labels[-1]
        rows.append(LogRow(T0 + i * 30, f"a{i}", "sentiment", 1 + (i % 5 == 0), 0, 5.0, lab, ref["mean_confidence"],
                           text_sha256(text), len(text)))
    for i, text in enumerate(shifted(100)):  # hour 1: the drift
        rows.append(LogRow(T0 + HOUR + i * 30, f"b{i}", "sentiment", 1 + (i % 5 == 0), 0, 5.0, "neg", 0.51,
                           text_sha256(text), len(text)))
    log = RequestLog(reg.db)
    log.record(rows)
    log.close()
    return tmp_path / "registry"


def report(logged, *args) -> int:
    return main(["monitor", "report", "--registry", str(logged), "--model", "sentiment",
                 "--since", str(T0), *args])


def test_report_table_json_and_pngs(logged, tmp_path, capsys):
    out = tmp_path / "report"
    assert report(logged, "--window", "1h", "--output", str(out)) == 0
    text = capsys.readouterr().out
    assert "v1 (primary): reference from validation" in text and "v2 (primary): no reference" in text
    rep = json.loads((out / "report.json").read_text())
    v1, v2 = rep["versions"]
    calm, drifted = v1["windows"]
    assert (calm["n"], drifted["n"]) == (80, 80) and calm["start"].endswith("00:00Z")
    assert calm["psi_length"] < 0.25 and drifted["psi_length"] > 1.0 and drifted["status"] == "alert"
    assert drifted["psi_label"] > calm["psi_label"] and drifted["confidence_delta"] < -0.05
    assert v1["overall"]["n"] == 160
    assert v2["reference"] is None and v2["overall"]["status"] == "no reference" and v2["overall"]["n"] == 40
    for name in ("label_share.png", "confidence.png", "lengths.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert (out / "report.txt").read_text().strip() == text.strip()


def test_report_json_and_window_choice(logged, capsys):
    assert report(logged, "--window", "2h", "--json") == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["window"] == "2h" and len(rep["versions"][0]["windows"]) == 1  # both hours in one window


@pytest.mark.parametrize("args, expect", [
    (["--since", "last tuesday"], "--since"),
    (["--window", "1x"], "--window"),
    (["--window", "1s"], "windows"),  # years of one-second rows: refused, not drawn
])
def test_report_bad_arguments(logged, capsys, args, expect):
    assert main(["monitor", "report", "--registry", str(logged), "--model", "sentiment", *args]) == 2
    assert expect in capsys.readouterr().err


def test_unknown_model(logged, capsys):
    assert main(["monitor", "report", "--registry", str(logged), "--model", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err


def test_parse_since():
    assert parse_since("2h", now=10_000) == 10_000 - 7200
    assert parse_since("2023-11-14", now=0) == 1_699_920_000
    assert parse_since(str(T0), now=0) == T0
