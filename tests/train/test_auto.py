"""Each automatic training choice (train/auto.py) on tiny fixtures: small data, a tiny class, long texts,
a tiny validation split; a value the user set is never changed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from tuneforge.config import Config, load_config
from tuneforge.tasks.base import get_task
from tuneforge.train import auto
from tuneforge.train.trainer import FlooredEarlyStopping, GroupedLRTrainer


def cfg_with(**train) -> Config:
    cfg = Config()
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


def test_small_data_gets_enough_steps_and_large_data_the_default_epochs():
    small = cfg_with(batch_size=16, min_steps=200)
    c = auto.choose_epochs(small, 300)  # 19 steps per epoch
    assert small.train.epochs == 11.0 and "19 steps per epoch" in c.why
    large = cfg_with(batch_size=16, min_steps=200)
    auto.choose_epochs(large, 5000)
    assert large.train.epochs == auto.DEFAULT_EPOCHS
    given = cfg_with(epochs=1.0, min_steps=200)
    assert auto.choose_epochs(given, 300) is None and given.train.epochs == 1.0


def test_max_length_covers_most_texts_within_the_backbone_limit():
    cfg = cfg_with()
    c = auto.choose_max_length(cfg, [20] * 90 + [300] * 10, limit=512)
    assert cfg.train.max_length == 320 and "10 (10.0%) are longer" not in c.why  # the 95th percentile is 300
    short = cfg_with()
    auto.choose_max_length(short, [12, 15, 20], limit=512)
    assert short.train.max_length == auto.LENGTH_FLOOR
    long = cfg_with()
    c = auto.choose_max_length(long, [2000] * 10, limit=512)
    assert long.train.max_length == 512 and "backbone's limit" in c.why
    given = cfg_with(max_length=64)
    assert auto.choose_max_length(given, [2000] * 10, limit=512) is None and given.train.max_length == 64


def test_setfit_caps_the_length_because_it_encodes_each_text_many_times():
    setfit = cfg_with(method="setfit")
    c = auto.choose_max_length(setfit, [2000] * 10, limit=512)
    assert setfit.train.max_length == auto.SETFIT_LENGTH_CAP and "setfit's cap" in c.why
    short = cfg_with(method="setfit")
    auto.choose_max_length(short, [100] * 10, limit=512)
    assert short.train.max_length == 128  # below the cap the data decides, as for full tuning
    full = cfg_with(method="full")
    auto.choose_max_length(full, [2000] * 10, limit=512)
    assert full.train.max_length == 512


def test_a_tiny_class_turns_on_class_weights_and_balanced_data_does_not():
    text, ner = get_task("text-classification"), get_task("token-classification")
    cfg = cfg_with(method="full")
    c = auto.choose_class_weight(cfg, text, ["a"] * 90 + ["b"] * 10)
    assert cfg.train.class_weight == "balanced" and "smallest 10" in c.why
    assert auto.class_weights(cfg, ["a"] * 90 + ["b"] * 10, ["a", "b"]) == pytest.approx([100 / 180, 100 / 20])
    even = cfg_with(method="full")
    auto.choose_class_weight(even, text, ["a"] * 50 + ["b"] * 40)
    assert even.train.class_weight == "none" and auto.class_weights(even, ["a", "b"], ["a", "b"]) is None
    ner_cfg = cfg_with(method="full")
    auto.choose_class_weight(ner_cfg, ner, ["a"] * 90 + ["b"])
    assert ner_cfg.train.class_weight == "none"  # per-token loss: not weighted per class
    given = cfg_with(method="full", class_weight="none")
    assert auto.choose_class_weight(given, text, ["a"] * 90 + ["b"] * 10) is None and given.train.class_weight == "none"


def test_a_tiny_validation_split_doubles_patience():
    cfg = cfg_with(early_stopping_patience=2)
    c = auto.choose_patience(cfg, ["a"] * 50 + ["b"] * 3)
    assert cfg.train.early_stopping_patience == 4 and "53 examples, smallest class 3" in c.why
    big = cfg_with(early_stopping_patience=2)
    assert auto.choose_patience(big, ["a"] * 100 + ["b"] * 50) is None and big.train.early_stopping_patience == 2


def test_early_stopping_cannot_fire_before_the_floor():
    cb = FlooredEarlyStopping(patience=1, floor=50)
    args = SimpleNamespace(metric_for_best_model="macro_f1", greater_is_better=True, load_best_model_at_end=True,
                           eval_strategy="steps")
    control = SimpleNamespace(should_training_stop=False)
    state = SimpleNamespace(global_step=10, best_metric=0.5, best_global_step=5)
    cb.on_evaluate(args, state, control, {"eval_macro_f1": 0.4})  # worse, but inside the floor
    assert not control.should_training_stop
    state.global_step = 60
    cb.on_evaluate(args, state, control, {"eval_macro_f1": 0.4})  # worse, past the floor: patience 1 runs out
    assert control.should_training_stop


def test_balanced_weights_weigh_the_loss_per_class():
    class Tiny(torch.nn.Module):
        def forward(self, x=None, labels=None):
            return SimpleNamespace(logits=x)
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), torch.tensor([0, 1, 1])
    trainer = GroupedLRTrainer.__new__(GroupedLRTrainer)  # compute_loss only: no Trainer set-up needed
    trainer.class_weights, trainer.distill_loss = torch.tensor([1.0, 3.0]), None
    got = trainer.compute_loss(Tiny(), {"x": logits, "labels": labels})
    want = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor([1.0, 3.0]))
    assert torch.allclose(got, want) and not torch.allclose(got, torch.nn.functional.cross_entropy(logits, labels))


def test_an_imbalanced_small_run_writes_its_choices_down(tmp_path, tiny_bert):
    import csv
    import random
    rng = random.Random(0)
    data = tmp_path / "reviews.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(100):
            lab = "pos" if i % 10 == 0 else "neg"  # 10 % minority
            w.writerow([f"the film was {rng.choice(['good', 'great'] if lab == 'pos' else ['bad', 'dull'])} {i}", lab])
    cfg = load_config(None, [f"data.train={data}", f"backbone={tiny_bert}", f"output_dir={tmp_path / 'run'}",
                             "train.method=full", "train.min_steps=40", "train.batch_size=8", "train.bf16=false",
                             "train.evals_per_epoch=1"])
    from tuneforge.train.run import train
    out = train(cfg, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    chosen = {c["key"]: c["value"] for c in m["train"]["auto_choices"]}
    assert chosen["train.class_weight"] == "balanced" and chosen["train.epochs"] == 4.0  # 80 rows: 10 steps per epoch
    assert chosen["train.max_length"] == auto.LENGTH_FLOOR and "train.early_stopping_patience" in chosen
    assert "train.decision_bias" in chosen  # chosen on validation after training, offsets or "none"
    saved = load_config(out / "config.yaml")
    assert saved.train.class_weight == "balanced" and saved.train.epochs == 4.0  # the saved config shows what ran
    assert "## Automatic choices" in (out / "README.md").read_text() and m["train"]["steps"] >= 40


def test_chinese_texts_are_measured_in_tokens_not_characters_or_words(tiny_bert):
    """Unsegmented text has no spaces: counting words would call a 150-character review one word long and pick
    the 64-token floor, cutting most of it. The length comes from the backbone's tokenizer (a character per
    token for Chinese in BERT-style vocabularies)."""
    from transformers import AutoTokenizer

    from tuneforge.data.readers import TextExample
    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    reviews = [TextExample("这部电影的剧情非常精彩演员的表演也很自然" * 7 + str(i), "pos") for i in range(20)]  # 141 chars
    lengths = get_task("text-classification").length_of(tok, reviews)
    assert min(lengths) >= 141 and len(reviews[0].text.split()) == 1
    cfg = cfg_with(method="full")
    auto.choose_max_length(cfg, lengths, limit=512)
    assert cfg.train.max_length == 160  # 141 characters + [CLS]/[SEP] and the digits, rounded up to 32


def test_the_method_auto_chose_is_written_down_for_every_task():
    ner = cfg_with(method="full")
    ner.task = "token-classification"
    c = auto.method_choice(ner, "auto", [])  # NER examples carry tags, not one label
    assert c.value == "full" and "whole texts" in c.why
    image = cfg_with(method="auto")
    image.task, image.image.linear_probe = "image-classification", True
    assert "linear_probe" in auto.method_choice(image, "auto", ["a", "b"]).why
    text = cfg_with(method="setfit")
    assert "smallest class 1" in auto.method_choice(text, "auto", ["a", "a", "b"]).why
    assert auto.method_choice(text, "setfit", ["a", "b"]) is None  # the user's own choice is not an auto choice


def test_head_and_tail_when_a_tenth_of_the_texts_are_cut_and_only_for_text_classifiers():
    text, ner = get_task("text-classification"), get_task("token-classification")
    cfg = cfg_with(max_length=64)
    c = auto.choose_truncation(cfg, text, [20] * 90 + [300] * 10)
    assert cfg.train.truncation == "head+tail" and "10 of 100 training texts (10.0%)" in c.why
    few = cfg_with(max_length=64)
    c = auto.choose_truncation(few, text, [20] * 91 + [300] * 9)
    assert few.train.truncation == "head" and c.value == "head"
    tokens = cfg_with(max_length=64)
    assert auto.choose_truncation(tokens, ner, [300] * 10) is None and tokens.train.truncation == "head"
    given = cfg_with(max_length=64, truncation="head")
    assert auto.choose_truncation(given, text, [300] * 10) is None and given.train.truncation == "head"
