"""Knowledge distillation on tiny random BERTs: the loss is Hinton's, teacher logits are computed once and
reused, a truncated-teacher student and a different-backbone student both come out as ordinary run
directories that load and predict, and bad requests are refused before anything is trained."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from tuneforge.cli import main
from tuneforge.config import load_config
from tuneforge.errors import TuneforgeError
from tuneforge.methods.distill import LOGITS_FILE, distill, distillation_loss, teacher_logits
from tuneforge.rundir import load_run
from tuneforge.train.run import train


def test_loss_is_t2_scaled_kl_plus_hard_cross_entropy():
    torch.manual_seed(0)
    s, t, y = torch.randn(5, 3, requires_grad=True), torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    T = 3.0
    p_t = (t / T).softmax(-1)
    kl = (p_t * (p_t.log() - (s / T).log_softmax(-1))).sum(-1).mean() * T * T
    ce = F.cross_entropy(s, y)
    torch.testing.assert_close(distillation_loss(s, t, y, T, 1.0), kl)
    torch.testing.assert_close(distillation_loss(s, t, y, T, 0.0), ce)
    torch.testing.assert_close(distillation_loss(s, t, y, T, 0.25), 0.25 * kl + 0.75 * ce)
    assert distillation_loss(t.clone(), t, y, T, 1.0).abs() < 1e-6  # matching the teacher costs nothing
    distillation_loss(s, t, y, T, 0.5).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0


def _data(path: Path, n: int = 200) -> Path:
    rng = random.Random(0)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            lab = rng.choice(["pos", "neg"])
            word = rng.choice(["good", "great", "lovely"] if lab == "pos" else ["bad", "awful", "boring"])
            w.writerow([f"the {rng.choice(['movie', 'plot', 'cast'])} was {word} {i}", lab])
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_bert):
    tmp = tmp_path_factory.mktemp("teacher")
    cfg = {"task": "text-classification", "backbone": str(tiny_bert), "output_dir": str(tmp / "teacher"),
           "data": {"train": str(_data(tmp / "reviews.csv"))},
           "train": {"epochs": 4, "batch_size": 8, "learning_rate": 3e-3, "head_learning_rate": 1e-2, "dropout": 0.0,
                     "max_length": 32, "freeze_embeddings": False,
                     "bf16": "false"}}  # forced: quality asserts must not hang on the CPU's choice
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return train(load_config(tmp / "config.yaml"), progress=False)


def test_teacher_logits_are_computed_once_and_cached(teacher, tmp_path):
    run = load_run(teacher)
    from tuneforge.data.splits import load_splits
    examples = load_splits(run.cfg).train
    calls = []
    handle = run.model.register_forward_hook(lambda *a: calls.append(1))
    cache = tmp_path / LOGITS_FILE
    first = teacher_logits(run, examples, cache)
    n_batches = len(calls)
    assert first.shape == (len(examples), 2) and n_batches == -(-len(examples) // run.cfg.train.eval_batch_size)
    again = teacher_logits(run, examples, cache)
    assert len(calls) == n_batches  # the second call read the cache: the teacher did not run
    torch.testing.assert_close(first, again)
    teacher_logits(run, examples[:-1], cache)  # other texts: the cache does not apply
    assert len(calls) > n_batches
    handle.remove()


def test_truncated_teacher_student_is_a_normal_run(teacher, tmp_path):
    out = distill(teacher, student_layers=1, temperature=2.0, alpha=0.7, output=tmp_path / "student",
                  overrides=["train.epochs=2"], progress=False)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 1
    m = json.loads((out / "metrics.json").read_text())
    d = m["distillation"]
    assert d["teacher_layers"] == 2 and d["student_layers"] == 1 and d["alpha"] == 0.7
    assert d["student_test_accuracy"] == m["test"]["accuracy"] >= 0.8
    assert d["accuracy_retained"] == round(m["test"]["accuracy"] / d["teacher_test_accuracy"], 4)
    assert not (out / "checkpoints").exists()  # the cached logits went with the checkpoints
    # the split is the teacher's: the same test texts
    texts = lambda run: [json.loads(l)["text"] for l in (run / "test_predictions.jsonl").read_text().splitlines()]
    assert texts(out) == texts(teacher)
    pred = load_run(out).predict(["the movie was lovely", "the plot was awful"])
    assert [p["label"] for p in pred] == ["pos", "neg"]


def test_other_backbone_student_trains_from_the_teachers_logits(teacher, tiny_sp_bert, tmp_path):
    # a different tokenizer altogether: the soft targets are per text, so it does not matter
    out = distill(teacher, student=str(tiny_sp_bert), output=tmp_path / "sp", alpha=1.0,
                  overrides=["train.epochs=3", "train.freeze_embeddings=false"], progress=False)
    m = json.loads((out / "metrics.json").read_text())
    assert m["distillation"]["student"] == str(tiny_sp_bert)
    assert load_config(out / "config.yaml").backbone == str(tiny_sp_bert)
    losses = [h["loss"] for h in json.loads((out / "log_history.json").read_text()) if "loss" in h]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("kwargs, match", [
    ({"student": "x", "student_layers": 1}, "exactly one"),
    ({}, "exactly one"),
    ({"student_layers": 2}, "--student-layers"),  # the teacher has 2: nothing would be removed
    ({"student_layers": 1, "temperature": 0.0}, "--temperature"),
    ({"student_layers": 1, "alpha": 1.5}, "--alpha"),
])
def test_bad_requests_are_refused(teacher, tmp_path, kwargs, match):
    with pytest.raises(TuneforgeError, match=match):
        distill(teacher, output=tmp_path / "never", progress=False, **kwargs)
    assert not (tmp_path / "never").exists()


def test_cli_refuses_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["distill", str(tmp_path), "--student-layers", "1"]) == 2
    err = capsys.readouterr().err
    assert "not a finished tuneforge run" in err and "Traceback" not in err
