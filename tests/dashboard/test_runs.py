"""Reading run directories for the dashboard, on hand-written run files (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tuneforge.dashboard import runs as R
from tuneforge.errors import TuneforgeError


def fake_run(d: Path, task="text-classification", preds=(), history=None, metrics=None) -> Path:
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"task": task, "backbone": "tiny", "output_dir": str(d),
                                                   "train": {"epochs": 2, "seed": 1}}), encoding="utf-8")
    (d / "metrics.json").write_text(json.dumps(metrics or {"test": {"accuracy": 0.5, "n": len(preds)}}), encoding="utf-8")
    (d / "labels.json").write_text(json.dumps(["neg", "pos"]), encoding="utf-8")
    (d / "test_predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds), encoding="utf-8")
    if history is not None:
        (d / "log_history.json").write_text(json.dumps(history), encoding="utf-8")
    return d


def test_find_runs_ids_depth_and_skipped_dirs(tmp_path):
    fake_run(tmp_path / "a")
    fake_run(tmp_path / "group" / "b")
    fake_run(tmp_path / "a" / "checkpoints" / "c")  # inside a run: not another run
    fake_run(tmp_path / "x" / "exports" / "onnx")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("task: text-classification\n")  # unfinished: no metrics.json
    assert list(R.find_runs({"runs": tmp_path})) == ["runs/a", "runs/group/b"]
    assert list(R.find_runs({"one": tmp_path / "a"})) == ["one/a"]  # the root itself is a run
    assert R.find_runs({"gone": tmp_path / "nope"}) == {}
    with pytest.raises(R.RunNotFound, match="no finished run 'runs/half'"):
        R.resolve({"runs": tmp_path}, "runs/half")


def test_runs_behind_symlinks_are_found_and_a_link_loop_ends(tmp_path):
    fake_run(tmp_path / "elsewhere" / "r1")
    (tmp_path / "picked").mkdir()
    (tmp_path / "picked" / "mine").symlink_to(tmp_path / "elsewhere" / "r1")
    (tmp_path / "picked" / "loop").symlink_to(tmp_path / "picked")  # would recurse forever without MAX_DEPTH
    assert list(R.find_runs({"runs": tmp_path / "picked"})) == ["runs/mine"]


def test_classification_confusion_and_worst_first(tmp_path):
    preds = [{"text": "a", "label": "pos", "predicted": "pos", "confidence": 0.9},
             {"text": "b", "label": "pos", "predicted": "neg", "confidence": 0.6},
             {"text": "c", "label": "neg", "predicted": "pos", "confidence": 0.95},
             {"text": "d", "label": "neg", "predicted": "neg", "confidence": 0.7}]
    d = R.detail("runs/r", fake_run(tmp_path / "r", preds=preds, history=[
        {"loss": 0.7, "step": 5, "epoch": 0.5, "grad_norm": 1.0}, {"eval_loss": 0.6, "eval_macro_f1": 0.5, "step": 10,
                                                                   "epoch": 1.0}, {"train_runtime": 3.0}]))
    err = d["errors"]
    assert err["labels"] == ["neg", "pos"] and err["matrix"] == [[1, 1], [1, 1]]
    assert [m["input"] for m in err["worst"]] == ["c", "b"] and err["wrong"] == 2
    assert d["learning_curve"] == [{"loss": 0.7, "step": 5, "epoch": 0.5},
                                   {"eval_loss": 0.6, "eval_macro_f1": 0.5, "step": 10, "epoch": 1.0}]
    assert d["config"]["train.epochs"] == 2 and "output_dir" not in d["config"]


def test_token_confusion_counts_words_and_lists_entities(tmp_path):
    preds = [{"tokens": list("张三在北京"), "tags": ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"],
              "predicted": ["B-PER", "I-PER", "O", "B-PER", "I-PER"]},
             {"tokens": list("李四"), "tags": ["B-PER", "I-PER"], "predicted": ["B-PER", "I-PER"]}]
    d = R.detail("runs/n", fake_run(tmp_path / "n", "token-classification", preds))
    err = d["errors"]
    assert d["input"] == "tokens"  # the page draws the word-level mistakes table by what the task reads
    assert err["labels"] == ["O", "LOC", "PER"]
    assert err["matrix"] == [[1, 0, 0], [0, 0, 2], [0, 0, 4]] and err["n"] == 7
    (w,) = err["worst"]
    assert w["input"] == "张三在北京" and w["wrong_words"] == 2
    assert w["true_entities"] == [{"type": "PER", "text": "张三"}, {"type": "LOC", "text": "北京"}]
    assert w["predicted_entities"] == [{"type": "PER", "text": "张三"}, {"type": "PER", "text": "北京"}]


def test_damaged_runs_say_what_and_where(tmp_path):
    d = fake_run(tmp_path / "bad")
    (d / "metrics.json").write_text("{not json")
    s = R.summary("runs/bad", d)
    assert "cannot read metrics.json" in s["error"]  # listed with its error; the other runs still show
    with pytest.raises(TuneforgeError, match="cannot read metrics.json"):
        R.detail("runs/bad", d)
    d2 = fake_run(tmp_path / "bad2")
    (d2 / "test_predictions.jsonl").write_text('{"text": "a"}\n{oops\n')
    with pytest.raises(TuneforgeError) as e:
        R.detail("runs/bad2", d2)
    assert e.value.where.endswith("test_predictions.jsonl:2")
    d3 = fake_run(tmp_path / "old", preds=[{"text": "a"}])  # a prediction line without label/predicted
    with pytest.raises(TuneforgeError, match="lacks the field"):
        R.detail("runs/old", d3)


def test_trainer_state_fallback(tmp_path):
    d = fake_run(tmp_path / "r")
    (d / "trainer_state.json").write_text(json.dumps({"log_history": [{"loss": 1.0, "step": 1, "epoch": 0.1}]}))
    assert R.learning_curve(d) == [{"loss": 1.0, "step": 1, "epoch": 0.1}]
