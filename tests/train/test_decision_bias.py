"""The validation-chosen logit offsets (train/decision_bias.py): found where they help, skipped where they do not,
and folded into the output bias so the saved model answers with them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tuneforge.config import Config
from tuneforge.data.readers import TextExample
from tuneforge.tasks.base import get_task
from tuneforge.train import decision_bias as db


def tiny_model(tiny_bert, labels):
    cfg = Config()
    cfg.backbone, cfg.task = str(tiny_bert), "text-classification"
    cfg.train.max_length = 32
    task = get_task(cfg.task)
    torch.manual_seed(0)  # the fresh head's initialisation: the same model whichever tests ran before
    model, _ = task.build_model(str(tiny_bert), labels, cfg)
    return cfg, task, model, task.load_processor(str(tiny_bert))


def test_offsets_go_into_the_saved_output_bias(tiny_bert):
    labels = ["neg", "pos"]
    cfg, task, model, tok = tiny_model(tiny_bert, labels)
    val = [TextExample(w, labels[i % 2]) for i, w in enumerate(["good film", "bad film", "fine plot", "awful plot"] * 10)]
    layer = db.output_layer(model, 2)

    def margin():  # log p(pos) - log p(neg) per text
        return np.diff(task.class_scores(model, tok, val, 32, 8, False), axis=1).ravel()

    with torch.no_grad():  # the random head's margins differ by ~0.03, finer than the 0.1 grid: spread them to 2
        layer.weight.mul_(2 / np.ptp(margin()))
    assert np.ptp(margin()) == pytest.approx(2, rel=1e-3)  # inside the grid's ±5: some offset separates the texts
    with torch.no_grad():  # push the boundary past every text: the model now answers "neg" for all of them
        layer.bias[0] += float(margin().max()) + 0.5
    scores = task.class_scores(model, tok, val, 32, 8, False)
    before = task.evaluate(model, tok, val, labels, 32, 8, False, progress=False)["metrics"]["macro_f1"]
    assert (scores.argmax(-1) == 0).all() and before == pytest.approx(1 / 3)
    choice = db.apply_decision_bias(cfg, task, model, tok, labels, val, bf16=False)
    assert choice.value.startswith("pos +")  # "label offset", the way the card and console show it
    shift = np.array([0.0, float(choice.value.split()[1])])
    after_scores = task.class_scores(model, tok, val, 32, 8, False)
    np.testing.assert_allclose(after_scores, scores + shift - np.logaddexp(*(scores + shift).T)[:, None]
                               + np.logaddexp(*scores.T)[:, None], atol=1e-5)  # softmax of the shifted logits
    after = task.evaluate(model, tok, val, labels, 32, 8, False, progress=False)["metrics"]["macro_f1"]
    # the texts' order along the margin is random (a random body), so how well a boundary separates them is not
    # known in advance; that the chosen one beats "neg for all" and is what the saved model now does is
    assert after >= before + db.MIN_GAIN and f"{before:.4f} → {after:.4f}" in choice.why


def test_a_gain_below_the_minimum_keeps_the_model_unchanged(tiny_bert):
    labels = ["neg", "pos"]
    cfg, task, model, tok = tiny_model(tiny_bert, labels)
    layer = db.output_layer(model, 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()  # every text scores alike: no offset can separate anything
    val = [TextExample(t, l) for t, l in [("good", "pos"), ("bad", "neg")] * 10]
    bias_before = layer.bias.clone()
    choice = db.apply_decision_bias(cfg, task, model, tok, labels, val, bf16=False)
    assert choice.value == "none" and torch.equal(layer.bias, bias_before)


def test_none_and_token_tasks_are_left_alone(tiny_bert):
    labels = ["neg", "pos"]
    cfg, task, model, tok = tiny_model(tiny_bert, labels)
    cfg.train.decision_bias = "none"
    val = [TextExample("good", "pos"), TextExample("bad", "neg")]
    assert db.apply_decision_bias(cfg, task, model, tok, labels, val, bf16=False) is None
    cfg.train.decision_bias = "auto"
    assert db.apply_decision_bias(cfg, get_task("token-classification"), model, tok, labels, val, False) is None
    assert db.apply_decision_bias(cfg, task, model, tok, labels, [], bf16=False) is None
