"""`tuneforge app monitor` end to end: a file classified by a real tiny run, the same file refused a second
count, the report's summary and trend PNG (alerts marked), and every bad input as exit 2 with file:line."""

from __future__ import annotations

import json

import matplotlib.image
import pytest

from tuneforge.cli import main

from .conftest import stream, write_jsonl


def test_input_with_a_run_then_report(tmp_path, sentiment_run, capsys):
    items = stream(30, per_hour=12, topics=("app",), seed=2)
    for x in items:
        x.pop("label")
    f = write_jsonl(tmp_path / "s.jsonl", items)
    db = str(tmp_path / "m.db")
    assert main(["app", "monitor", "--model", str(sentiment_run), "--input", str(f), "--db", db, "--min-count", "10"]) == 0
    out = capsys.readouterr().out
    assert f"{len(items)} texts" in out and "app" in out
    assert main(["app", "monitor", "--model", str(sentiment_run), "--input", str(f), "--db", db]) == 0
    assert "already ingested" in capsys.readouterr().out
    assert main(["app", "monitor", "report", "--db", db, "--json"]) == 0
    trends = json.loads(capsys.readouterr().out)
    assert sum(w["total"] for w in trends["windows"]) == len(items)


def test_report_png_marks_alerts(tmp_path, capsys):
    items = stream(60, per_hour=30, surges=[("payments", 50, 54, 0.85)], seed=5)  # labeled: no model needed
    db, png = str(tmp_path / "m.db"), tmp_path / "out" / "trend.png"
    assert main(["app", "monitor", "--input", str(write_jsonl(tmp_path / "s.jsonl", items)), "--db", db]) == 0
    assert "1 alert(s)" in capsys.readouterr().out
    assert main(["app", "monitor", "report", "--db", db, "--output", str(png)]) == 0
    out = capsys.readouterr().out
    assert "ALERT 2026-03-03T02:00:00Z  payments" in out or "ALERT 2026-03-03T03:00:00Z  payments" in out
    img = matplotlib.image.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 600 and img[..., :3].std() > 0.05  # drawn, not blank
    assert main(["app", "monitor", "report", "--db", db, "--topic", "app", "--output", str(tmp_path / "app.png")]) == 0


@pytest.mark.parametrize("args, says", [
    (["--input", "{d}/missing.jsonl"], "missing.jsonl: file not found"),
    (["--input", "{d}/bad.jsonl"], "bad.jsonl:2: time 'yesterday'"),
    (["--input", "{d}/notext.csv"], "notext.csv:1: no column 'text'"),
    ([], "exactly one of --input, --watch or --serve"),
    (["--input", "{d}/bad.jsonl", "--serve"], "exactly one of"),
    (["--input", "{d}/ok.jsonl", "--model", "{d}"], "is not a finished tuneforge run"),
    (["--input", "{d}/ok.jsonl", "--window", "an hour"], "'an hour' is not a duration"),
    (["--input", "{d}/ok.jsonl", "--webhook", "alerts.internal/hook"], "not an http(s) URL"),
    (["--input", "{d}/ok.jsonl", "--threshold", "-1"], "--threshold"),
    (["--input", "{d}/ok.jsonl", "--slack", "-0.5"], "--slack"),
    (["--input", "{d}/ok.jsonl", "--config", "{d}/conf.yaml"], "unknown key(s) treshold"),
    (["--watch", "{d}/nowhere"], "not a directory"),
    (["report", "--db", "{d}/none.db"], "no monitor database"),
    (["report", "--db", "{d}/m.db", "--output", "{d}/t.jpg"], "end --output with .png"),
    (["report", "--db", "{d}/m.db", "--topic", "sports", "--output", "{d}/t.png"], "no topic sports"),
])
def test_bad_input_exits_2_with_where_and_fix(tmp_path, capsys, args, says):
    d = str(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"time": 1772323200, "text": "ok"}\n{"time": "yesterday", "text": "x"}\n')
    (tmp_path / "notext.csv").write_text("time,body\n1772323200,x\n")
    (tmp_path / "conf.yaml").write_text("treshold: 3\n")
    write_jsonl(tmp_path / "ok.jsonl", [{"time": 1772323200, "text": "x", "label": "neg", "topic": "app"}])
    assert main(["app", "monitor", "--input", str(tmp_path / "ok.jsonl"), "--db", str(tmp_path / "m.db")]) == 0
    capsys.readouterr()
    assert main(["app", "monitor", *[a.format(d=d) for a in args]]) == 2
    err = capsys.readouterr().err
    assert says in err and "fix:" in err and "Traceback" not in err


def test_negative_label_must_be_a_label_of_the_run(tmp_path, sentiment_run, capsys):
    f = write_jsonl(tmp_path / "s.jsonl", [{"time": 1772323200, "text": "the app was bad"}])
    assert main(["app", "monitor", "--model", str(sentiment_run), "--negative-label", "negative",
                 "--input", str(f), "--db", str(tmp_path / "m.db")]) == 2
    assert "not a label of the run (labels: neg, pos)" in capsys.readouterr().err


def test_topic_model_names_topics_of_items_without_one(tmp_path, sentiment_run, capsys):
    # the sentiment run stands in for a topic classifier: its labels (neg/pos) become the topics
    items = [{"time": 1772323200 + i, "text": f"the plot was {w} {i}", **({"topic": "given"} if i == 0 else {})}
             for i, w in enumerate(["awful", "terrible", "lovely", "great"])]
    f = write_jsonl(tmp_path / "s.jsonl", items)
    db = str(tmp_path / "m.db")
    assert main(["app", "monitor", "--model", str(sentiment_run), "--topic-model", str(sentiment_run),
                 "--input", str(f), "--db", db]) == 0
    capsys.readouterr()
    assert main(["app", "monitor", "report", "--db", db, "--json"]) == 0
    topics = {w["topic"]: w["total"] for w in json.loads(capsys.readouterr().out)["windows"]}
    assert topics.pop("given") == 1 and set(topics) <= {"neg", "pos"} and sum(topics.values()) == 3


def test_example_config_states_the_detector_defaults():
    # examples/app-monitor.yaml documents the detector by restating its defaults: it must parse, validate,
    # and say what the code does (a default changed in one place and not the other fails here)
    import argparse
    from pathlib import Path

    from tuneforge.apps.monitor.cli import DETECTOR_KEYS, _settings, register
    from tuneforge.apps.monitor.detect import DetectorOptions
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    example = Path(__file__).resolve().parents[3] / "examples" / "app-monitor.yaml"
    s = _settings(parser.parse_args(["monitor", "--config", str(example)]))
    assert DetectorOptions(**{k: s[k] for k in DETECTOR_KEYS}).validate() == DetectorOptions()
    assert s["method"] == "cusum" and s["model"] == "runs/polarity-en"
