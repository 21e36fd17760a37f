"""Multi-label text classification end to end on a tiny random BERT: label-set files, training, the one-vs-rest
baseline, per-label thresholds, predict, plain transformers, every export format, the server, drift and the
dashboard's error view."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from tuneforge.config import load_config
from tuneforge.data.splits import labels_in, load_splits, read_file
from tuneforge.errors import TuneforgeError
from tuneforge.evaluation.logit_offsets import choose_label_offsets
from tuneforge.tasks.class_metrics import label_set_confusion, label_set_f1

from factories import TOPIC_WORDS, make_config, run_cli, write_label_sets

TASK = "multi-label-classification"
LABELS = sorted(TOPIC_WORDS.values())


def config_for(tmp: Path, backbone: Path, data: dict, **train):
    return load_config(make_config(tmp, backbone, TASK, data, **train))


def test_label_cells_are_read_as_sets(tmp_path, tiny_bert):
    f = tmp_path / "d.csv"
    f.write_text("text,label\nthe music was good,sound; story ;sound\nthe cast was bad,acting\n", encoding="utf-8")
    cfg = config_for(tmp_path, tiny_bert, {"train": str(f), "label_separator": ";"})
    examples, _ = read_file(cfg, str(f))
    assert [e.labels for e in examples] == [("sound", "story"), ("acting",)]
    assert examples[0].label == "sound|story"  # one sorted string: dedupe, reports and messages
    assert labels_in(examples) == {"sound": 1, "story": 1, "acting": 1}


def test_jsonl_labels_may_be_lists(tmp_path, tiny_bert):
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "the music was good", "label": ["story", "sound"]}\n'
                 '{"text": "the cast was bad", "label": "acting"}\n', encoding="utf-8")
    cfg = config_for(tmp_path, tiny_bert, {"train": str(f)})
    assert [e.labels for e in read_file(cfg, str(f))[0]] == [("sound", "story"), ("acting",)]
    cfg.task = "text-classification"  # one label per text: a list is a mistake, named with its line
    with pytest.raises(TuneforgeError) as e:
        read_file(cfg, str(f))
    assert e.value.where == f"{f}:1" and "multi-label-classification" in e.value.fix


def test_a_cell_naming_no_label_is_a_bad_row(tmp_path, tiny_bert):
    f = tmp_path / "d.csv"
    f.write_text("text,label\nthe music was good,sound\nthe cast was bad, | \n", encoding="utf-8")
    cfg = config_for(tmp_path, tiny_bert, {"train": str(f)})
    with pytest.raises(TuneforgeError) as e:
        read_file(cfg, str(f))
    assert e.value.where == f"{f}:3" and "names no label" in e.value.what
    cfg.data.bad_rows = "skip"
    examples, stats = read_file(cfg, str(f))
    assert len(examples) == 1 and stats.dropped == {"label cell names no label": 1}


def test_splits_keep_every_label_and_refuse_an_unseen_one(tmp_path, tiny_bert):
    cfg = config_for(tmp_path, tiny_bert, {"train": str(write_label_sets(tmp_path / "d.csv", 200, 0))})
    splits = load_splits(cfg)
    for name, ex in splits.items():
        assert set(labels_in(ex)) == set(LABELS), name  # stratified on each text's rarest label
    val = tmp_path / "v.csv"
    val.write_text("text,label\nthe music was good,sound\nthe plot was bad,story|ending\n", encoding="utf-8")
    cfg.data.validation = str(val)
    with pytest.raises(TuneforgeError) as e:
        load_splits(cfg)
    assert "'ending' never occurs in the training data" in e.value.what and e.value.where == f"{val}:3"


def test_metrics_and_the_confusion_of_label_sets():
    y_true = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    y_pred = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 1]])
    m = label_set_f1(y_true, y_pred)
    # decisions: tp 4, fp 1, fn 1 -> micro 0.8; per label F1 1, 1, 0 -> macro 2/3; one set of three exact
    assert m == pytest.approx({"micro_f1": 0.8, "macro_f1": 2 / 3, "exact_match": 1 / 3})
    kinds, matrix = label_set_confusion([["a", "c"], ["b"], ["a", "b"]], [["a"], ["b"], ["a", "b", "c"]],
                                        ["a", "b", "c"])
    assert kinds == ["a", "b", "c", "(none)"]
    assert matrix[0][0] == 2 and matrix[1][1] == 2  # found
    assert matrix[2][3] == 1  # c missed, nothing in its place
    assert matrix[3][2] == 1  # c said where every true label was found


def test_per_label_offsets_are_thresholds_chosen_per_label():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(200, 2))
    scores = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 0.3, size=(200, 2))
    scores[:, 1] -= 1.5  # label 1's logits are too low: at 0 it is rarely said
    offsets, before, after = choose_label_offsets(scores, y)
    assert offsets[0] == 0.0  # already separated at 0: the smallest shift reaching the best F1
    assert 0.6 <= offsets[1] <= 2.4 and after > before + 0.1


def test_a_label_the_scores_cannot_separate_is_not_said_of_every_text():
    rng = np.random.default_rng(1)
    y = np.zeros((300, 6), dtype=int)
    y[:, 0] = rng.random(300) < 0.5
    y[:, 1:] = rng.random((300, 5)) < 0.2  # five labels a fifth of the texts carry, at random
    scores = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 0.3, size=y.shape)
    scores[:, 1:] = rng.normal(-1.0, 0.3, size=(300, 5))  # ...and scores that know nothing of them
    offsets, before, after = choose_label_offsets(scores, y)
    # each such label's own F1 is best saying yes to all (2·0.2/1.2 = 0.33 > 0); micro-F1 over all decisions is not
    assert (scores[:, 1:] + offsets[1:] > 0).mean() < 0.05 and after >= before


@pytest.fixture(scope="module")
def label_run(tmp_path_factory, tiny_bert) -> Path:
    from tuneforge.train.run import train
    tmp = tmp_path_factory.mktemp("multi-label")
    data = write_label_sets(tmp / "sets.csv", 400, 0)
    return train(config_for(tmp, tiny_bert, {"train": str(data)}, epochs=6), progress=False)


def test_the_run_learns_label_sets_and_reports_them(label_run):
    m = json.loads((label_run / "metrics.json").read_text())
    assert set(m["test"]) == {"micro_f1", "macro_f1", "exact_match", "n"} and m["test"]["n"] == 40
    assert m["test"]["micro_f1"] >= 0.9  # one word per label: learnable by a 2-layer random model
    tb = m["baseline_tfidf"]
    assert tb["metric"] == "micro_f1" and "one-vs-rest" in tb["model"] and "micro_f1" in tb["test"]
    assert "baseline_majority" not in m  # one most common label is no floor for sets
    assert [c["key"] for c in m["train"]["auto_choices"]].count("train.decision_bias") == 1
    hf = json.loads((label_run / "config.json").read_text())
    assert hf["problem_type"] == "multi_label_classification" and sorted(hf["id2label"].values()) == LABELS
    row = json.loads((label_run / "test_predictions.jsonl").read_text().splitlines()[0])
    assert row["label"] == "|".join(row["labels"]) and row["predicted"] == "|".join(row["predicted_labels"])
    card = (label_run / "README.md").read_text()
    assert "micro F1" in card and "sigmoid" in card
    assert (label_run / "confusion_matrix.png").is_file()


def test_predict_agrees_with_plain_transformers(label_run):
    from transformers import pipeline

    from tuneforge.rundir import load_run
    texts = ["the music was good and the plot was bad", "the cast was lovely", "the plot was boring 7"]
    ours = load_run(label_run).predict(texts)
    assert [o["labels"] for o in ours][:2] == [["sound", "story"], ["acting"]]
    for o in ours:
        assert o["labels"] == [l for l, p in o["probabilities"].items() if p > 0.5]
    pipe = pipeline("text-classification", model=str(label_run), top_k=None, trust_remote_code=True)
    for o, scores in zip(ours, pipe(texts)):
        plain = {s["label"]: s["score"] for s in scores}  # sigmoid scores: the config's problem_type says so
        assert plain == pytest.approx(o["probabilities"], abs=1e-4)


def test_evaluate_refuses_a_file_with_an_unknown_label(label_run, tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("text,label\nthe music was good,sound|soundtrack\n", encoding="utf-8")
    r = run_cli("evaluate", str(label_run), "--data", str(f))
    assert r.returncode == 2 and "'soundtrack'" in r.stderr and "Traceback" not in r.stderr


def test_setfit_is_refused_with_the_reason(tmp_path, tiny_bert):
    cfg = make_config(tmp_path, tiny_bert, TASK, {"train": str(write_label_sets(tmp_path / "d.csv", 60, 1))},
                      method="setfit")
    r = run_cli("train", str(cfg))
    assert r.returncode == 2 and "setfit" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("fmt", ["onnx", "onnx-int8", "torch-int8", "bf16"])
def test_every_export_format_says_the_same_labels(label_run, tmp_path, fmt):
    from tuneforge.export.exporter import export_run
    from tuneforge.export.load import load_export
    from tuneforge.rundir import load_run
    out, _ = export_run(label_run, fmt, tmp_path / fmt, update_card=False)
    texts = ["the music was good and the cast was bad", "the plot was great", "the cast was awful 3"]
    assert [p["labels"] for p in load_export(out).predict(texts)] == [p["labels"] for p in load_run(label_run).predict(texts)]


def test_served_label_sets_are_logged_for_drift_and_shown_on_the_dashboard(label_run, tmp_path):
    from factories import LiveServer
    from tuneforge.dashboard.runs import detail
    from tuneforge.serve.app import ServeOptions
    from tuneforge.server import create_app
    from tuneforge.store.db import open_database
    from tuneforge.store.registry import Registry
    from tuneforge.store.requestlog import read_rows
    Registry(tmp_path / "registry").add("topics", label_run, stage="production")
    with LiveServer(create_app(ServeOptions(registry=str(tmp_path / "registry"), poll_s=0)), ready_path="/readyz") as s:
        r = httpx.post(f"{s.url}/v1/models/topics/predict", json={"texts": ["the music was good and the plot was bad"]},
                       timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["labels"] == ["sound", "story"]
        s.app.state.serve.requestlog.flush()
        rows = read_rows(open_database(tmp_path / "registry" / "registry.db"), "topics")
    assert [row.label for row in rows] == ["sound|story"] and 0.5 <= rows[0].confidence <= 1
    ref = json.loads((label_run / "reference.json").read_text())  # drift compares served sets with these
    assert "sound|story" in ref["labels"] and set(ref["labels"]) <= {"|".join(c) for n in range(1, 4)
                                                                       for c in combinations(LABELS, n)} | {"(none)"}
    page = detail("topics", label_run)
    assert page["main_metric"] == "micro_f1" and page["errors"]["labels"] == LABELS + ["(none)"]
    assert page["errors"]["n"] == 40
