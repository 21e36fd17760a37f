"""SetFit-style few-shot tuning (train.method setfit / auto) on tiny random BERTs: sampled pairs are balanced,
capped, seeded and linear in n; the contrastive phase pulls same-label sentences together; the logistic head
copied into the linear classifier gives scikit-learn's probabilities; a setfit run is an ordinary run directory
that reloads to the same logits; auto resolves to the method used; bad setfit keys are refused."""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml

from tuneforge.config import load_config
from tuneforge.data.readers import TextExample
from tuneforge.errors import TuneforgeError
from tuneforge.methods.setfit import (SETFIT_BELOW_PER_CLASS, contrastive_tune, embed_texts, fit_head, make_pairs,
                                      resolve_method)
from tuneforge.rundir import load_run
from tuneforge.tasks.base import get_task
from tuneforge.train.run import prepare, train

POS, NEG = ["good", "great", "excellent", "lovely"], ["bad", "awful", "terrible", "boring"]


def write_sentiment(path: Path, per_class: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows = [(f"the {rng.choice(['movie', 'plot', 'cast'])} was {rng.choice(words)} {i}", lab)
            for lab, words in (("pos", POS), ("neg", NEG)) for i in range(per_class)]
    rng.shuffle(rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["review", "stars"])
        w.writerows(rows)
    return path


def config_file(tmp: Path, backbone: Path, per_class: int = 12, test_per_class: int = 20, **train) -> Path:
    cfg = {"task": "text-classification", "backbone": str(backbone), "output_dir": str(tmp / "run"),
           "data": {"train": str(write_sentiment(tmp / "train.csv", per_class)),
                    "validation": str(write_sentiment(tmp / "val.csv", 4, seed=1)),
                    "test": str(write_sentiment(tmp / "test.csv", test_per_class, seed=2)),
                    "text_column": "review", "label_column": "stars"},
           # a random 32-wide body needs a far larger rate than a pretrained encoder's 2e-5
           "train": {"method": "setfit", "batch_size": 8, "learning_rate": 3e-3, "dropout": 0.0, "max_length": 32,
                     "logging_steps": 5, "freeze_embeddings": False,
                     "bf16": "false", **train},  # forced: quality asserts must not hang on the CPU's choice
           "setfit": {"pairs_per_example": 8}}
    p = tmp / "config.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


# ---------------------------------------------------------------- pairs

def test_pairs_are_balanced_correct_and_seeded():
    labels = ["a"] * 6 + ["b"] * 4 + ["c"] * 2
    pairs = make_pairs(labels, 5, 10_000, seed=3)
    targets = Counter(t for _, _, t in pairs)
    assert targets[1.0] == targets[0.0] == 12 * 5  # every example: R positives and R negatives
    for i, j, t in pairs:
        assert i != j
        assert (labels[i] == labels[j]) == (t == 1.0)
    assert make_pairs(labels, 5, 10_000, seed=3) == pairs
    assert make_pairs(labels, 5, 10_000, seed=4) != pairs
    # every same-label partner is reachable (uniform over the k-1 others, not always the same one)
    many = make_pairs(labels, 60, 10**6, seed=3)
    assert {j for i, j, t in many if i == 0 and t == 1.0} == {1, 2, 3, 4, 5}
    assert {j for i, j, t in many if i == 0 and t == 0.0} == set(range(6, 12))


def test_pairs_grow_linearly_and_respect_the_cap():
    labels = [i % 3 for i in range(3000)]  # all n^2/2 pairs would be 4.5 million
    pairs = make_pairs(labels, 2, 1_000_000, seed=0)
    assert len(pairs) == 2 * 2 * 3000
    capped = make_pairs(labels, 2, 101, seed=0)
    assert Counter(t for _, _, t in capped) == {1.0: 50, 0.0: 50}


def test_singleton_class_gets_no_positive_and_too_few_examples_are_refused():
    pairs = make_pairs(["a", "a", "b"], 3, 100, seed=0)
    assert not any(t == 1.0 and 2 in (i, j) for i, j, t in pairs)
    with pytest.raises(TuneforgeError, match="no contrastive pairs"):
        make_pairs(["a", "b", "c"], 3, 100, seed=0)  # no label has two examples
    with pytest.raises(TuneforgeError, match="no contrastive pairs"):
        make_pairs(["a", "a", "a"], 3, 100, seed=0)  # one label: no negatives


# ---------------------------------------------------------------- the two phases

def tiny_model(tiny_bert, tmp_path, labels=("neg", "pos")):
    cfg = load_config(config_file(tmp_path, tiny_bert))
    resolve_method(cfg, [])
    model, _ = get_task(cfg.task).build_model(str(tiny_bert), list(labels), cfg)
    from transformers import AutoTokenizer
    return model, AutoTokenizer.from_pretrained(str(tiny_bert)), cfg


def test_contrastive_phase_pulls_same_label_sentences_together(tiny_bert, tmp_path):
    model, tok, cfg = tiny_model(tiny_bert, tmp_path)
    torch.manual_seed(0)
    texts = [f"the movie was {w}" for w in POS + NEG] * 2
    y = [0] * 4 + [1] * 4 + [0] * 4 + [1] * 4

    def margin():
        e = torch.nn.functional.normalize(embed_texts(model, tok, texts, 32, 8, False), dim=1)
        sim = e @ e.T
        same = torch.tensor([[a == b for b in y] for a in y]) & ~torch.eye(len(y), dtype=torch.bool)
        diff = torch.tensor([[a != b for b in y] for a in y])
        return (sim[same].mean() - sim[diff].mean()).item()

    before = margin()
    history = contrastive_tune(model, tok, texts, make_pairs(y, 8, 1000, seed=0), cfg, bf16=False)
    assert history and history[-1]["step"] == 32  # 16 texts x 8 rounds x (1 positive + 1 negative) / batch 8
    assert history[-1]["loss"] < history[0]["loss"]
    assert margin() > before + 0.2


@pytest.mark.parametrize("n_labels", [2, 3])
def test_logistic_head_in_the_linear_classifier_gives_sklearns_probabilities(tiny_bert, tmp_path, n_labels):
    from sklearn.linear_model import LogisticRegression
    labels = ["a", "b", "c"][:n_labels]
    model, _, cfg = tiny_model(tiny_bert, tmp_path, labels)
    g = torch.Generator().manual_seed(0)
    y = [i % n_labels for i in range(30)]
    emb = torch.randn(30, model.config.hidden_size, generator=g) * 4 + torch.tensor(y)[:, None].float()
    fit_head(model, emb, y, cfg)
    with torch.no_grad():
        ours = model.classifier(emb).softmax(-1).numpy()
    scale = emb.norm(dim=1).mean()
    ref = LogisticRegression(C=cfg.setfit.head_c, max_iter=2000).fit((emb / scale).double().numpy(), y)
    assert abs(ours - ref.predict_proba((emb / scale).double().numpy())).max() < 1e-4


@pytest.mark.parametrize("head", ["logistic", "linear"])
def test_an_imbalanced_head_is_class_weighted_when_train_class_weight_says_balanced(tiny_bert, tmp_path, head):
    """100 vs 11, overlapping: unweighted, the head leans to the big class; balanced (what auto picks at 3:1)
    finds more of the small one, and the logistic head is exactly sklearn's class_weight="balanced"."""
    from sklearn.linear_model import LogisticRegression
    g = torch.Generator().manual_seed(0)
    y = [0] * 100 + [1] * 11
    found = {}
    for weighting in ("none", "balanced"):
        model, _, cfg = tiny_model(tiny_bert, tmp_path)
        cfg.setfit.head, cfg.train.class_weight = head, weighting
        cfg.train.head_learning_rate = 1e-2  # the task default, filled by resolve_defaults in a real run
        emb = torch.randn(111, model.config.hidden_size, generator=torch.Generator().manual_seed(1)) * 2 \
            + 0.6 * torch.tensor(y)[:, None].float()
        fit_head(model, emb, y, cfg)
        with torch.no_grad():
            found[weighting] = int((model.classifier(emb).argmax(-1)[100:] == 1).sum())
        if head == "logistic" and weighting == "balanced":
            scale = emb.norm(dim=1).mean()
            x = (emb / scale).double().numpy()
            ref = LogisticRegression(C=cfg.setfit.head_c, max_iter=2000, class_weight="balanced").fit(x, y)
            with torch.no_grad():
                ours = model.classifier(emb).softmax(-1).numpy()
            assert abs(ours - ref.predict_proba(x)).max() < 1e-4
    assert found["balanced"] > found["none"], found


# ---------------------------------------------------------------- a whole run

def test_setfit_run_is_an_ordinary_run_directory_and_reloads_identically(tiny_bert, tmp_path):
    cfg = load_config(config_file(tmp_path, tiny_bert), ["train.method=auto"])
    out = train(cfg, progress=False)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    # 12 per class < the threshold: auto resolved to setfit, its defaults filled, and the config says so
    assert saved["train"]["method"] == "setfit" and saved["train"]["pooling"] == "mean"
    m = json.loads((out / "metrics.json").read_text())
    assert m["train"]["method"] == "setfit" and m["train"]["pairs"] == 2 * 8 * 24
    # written by the same writer as full fine-tuning: the automatic choice and its counts are in the metrics and card
    assert [c["value"] for c in m["train"]["auto_choices"] if c["key"] == "train.method"] == ["setfit"]
    assert "## Automatic choices" in (out / "README.md").read_text() and "train.epochs" not in str(m["train"]["auto_choices"])
    # the pattern is one word; 24 training sentences and a random 2-layer body must find it
    assert m["test"]["accuracy"] >= 0.9 > m["baseline_majority"]["accuracy"]
    for name in ("model.safetensors", "tokenizer.json", "labels.json", "report.txt", "README.md",
                 "learning_curve.png", "test_predictions.jsonl"):
        assert (out / name).is_file(), name

    run = load_run(out)  # the loader every later stage uses
    texts = ["the plot was awful", "the cast was lovely", "it is not very good"]
    assert [p["label"] for p in run.predict(texts[:2])] == ["neg", "pos"]
    enc = run.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = run.model(**enc).logits
        # the head sits on the mean-pooled body output: the same numbers computed by hand
        emb = embed_texts(run.model, run.tokenizer, texts, 32, 8, False)
        assert torch.allclose(logits, run.model.classifier(emb), atol=1e-5)


def test_auto_resolves_by_examples_per_class(tiny_bert, tmp_path):
    few = [TextExample(f"t{i}", "ab"[i % 2]) for i in range(2 * (SETFIT_BELOW_PER_CLASS - 1))]
    many = [TextExample(f"t{i}", "ab"[i % 2]) for i in range(2 * SETFIT_BELOW_PER_CLASS)]
    for examples, expected in ((few, "setfit"), (many, "full")):
        cfg = load_config(config_file(tmp_path, tiny_bert), ["train.method=auto", "train.learning_rate=null"])
        resolve_method(cfg, examples)
        assert cfg.train.method == expected
        assert (cfg.train.learning_rate == 2e-5) == (expected == "setfit")
    # imbalanced few-shot data stays on full tuning (class weights and the decision bias serve a small class better)
    skewed = [TextExample(f"t{i}", "a" if i % 10 else "b") for i in range(120)]  # 108 vs 12: 60 per class, 9:1
    cfg = load_config(config_file(tmp_path, tiny_bert), ["train.method=auto"])
    resolve_method(cfg, skewed)
    assert cfg.train.method == "full"
    # what setfit cannot do keeps auto on full fine-tuning
    cfg = load_config(config_file(tmp_path, tiny_bert), ["train.method=auto", "train.adversarial=fgm"])
    resolve_method(cfg, few)
    assert cfg.train.method == "full"
    # through the real pipeline: prepare() resolves it before the defaults are filled
    cfg = load_config(config_file(tmp_path, tiny_bert), ["train.method=auto"])
    prepare(cfg, progress=False)
    assert cfg.train.method == "setfit"


@pytest.mark.parametrize("override, key", [
    ("setfit.pairs_per_example=0", "setfit.pairs_per_example"),
    ("setfit.max_pairs=1", "setfit.max_pairs"),
    ("setfit.epochs=0", "setfit.epochs"),
    ("setfit.head=svm", "setfit.head"),
    ("setfit.head_c=0", "setfit.head_c"),
    ("setfit.head_epochs=0", "setfit.head_epochs"),
    ("train.pooling=cls", "train.pooling"),
    ("task=token-classification", "train.method"),
    ("train.adversarial=fgm", "train.adversarial"),
])
def test_bad_setfit_settings_are_refused_with_the_key(tiny_bert, tmp_path, override, key):
    with pytest.raises(TuneforgeError) as e:
        load_config(config_file(tmp_path, tiny_bert), [override])
    assert f"`{key}`" in e.value.what and e.value.fix
    # where the offending key was set: the override, or (train.method) its line in the config file
    assert e.value.where == "command line" or re.fullmatch(r".*config\.yaml:\d+", e.value.where)
