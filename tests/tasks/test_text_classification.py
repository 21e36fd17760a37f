"""Classification features, metrics and predictions on a tiny random model."""

import numpy as np
from transformers import AutoTokenizer

from tuneforge.config import Config
from tuneforge.data.readers import TextExample
from tuneforge.tasks.base import get_task


def test_encode_truncates_and_maps_labels(tiny_bert):
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    task = get_task("text-classification")
    ex = [TextExample("the movie was good " * 20, "pos"), TextExample("bad", "neg")]
    feats = task.encode(tok, ex, ["neg", "pos"], max_length=16)
    assert len(feats[0]["input_ids"]) == 16 and feats[0]["labels"] == 1
    assert feats[1]["labels"] == 0 and len(feats[1]["input_ids"]) == 3


def test_predict_returns_label_and_probabilities_in_input_order(tiny_bert):
    task = get_task("text-classification")
    cfg = Config()
    model, fresh = task.build_model(str(tiny_bert), ["neg", "pos"], cfg)
    assert {"classifier.weight", "classifier.bias"} <= fresh
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["good " * 30, "bad", "the plot was boring and the cast was poor"]
    out = task.predict(model, tok, texts, ["neg", "pos"], 64, 2, False)
    assert [o["text"] for o in out] == texts
    for o in out:
        assert set(o["probabilities"]) == {"neg", "pos"}
        assert abs(sum(o["probabilities"].values()) - 1) < 1e-4
        assert o["label"] == max(o["probabilities"], key=o["probabilities"].get)
    # batching by length must not change answers: compare with one-at-a-time
    single = [task.predict(model, tok, [t], ["neg", "pos"], 64, 1, False)[0] for t in texts]
    for a, b in zip(out, single):
        assert np.allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-4)


def test_num_layers_and_frozen_embeddings(tiny_bert):
    task = get_task("text-classification")
    cfg = Config()
    cfg.train.num_layers = 1
    cfg.train.freeze_embeddings = True
    model, _ = task.build_model(str(tiny_bert), ["a", "b"], cfg)
    assert len(model.bert.encoder.layer) == 1
    assert not model.get_input_embeddings().weight.requires_grad


def test_missing_pooler_starts_at_identity_and_keeps_a_trained_one(tiny_sp_bert, tmp_path):
    import shutil

    import torch
    from transformers import AutoConfig, BertModel
    task = get_task("text-classification")
    # tiny_sp_bert is saved without a pooler, like e5: with [CLS] pooling asked for, the classifier must
    # see [CLS] unchanged (auto would pick mean pooling: tests/tasks/test_pooling.py)
    cls = Config()
    cls.train.pooling = "cls"
    model, fresh = task.build_model(str(tiny_sp_bert), ["a", "b"], cls)
    w = model.bert.pooler.dense.weight
    assert torch.equal(w, torch.eye(w.shape[0])) and not model.bert.pooler.dense.bias.any()
    assert not any("pooler" in n for n in fresh) and "classifier.weight" in fresh
    # a checkpoint that ships a pooler keeps it
    with_pooler = shutil.copytree(tiny_sp_bert, tmp_path / "pooled")
    saved = BertModel(AutoConfig.from_pretrained(tiny_sp_bert))  # add_pooling_layer defaults to True
    saved.save_pretrained(with_pooler)
    model, fresh = task.build_model(str(with_pooler), ["a", "b"], Config())
    assert torch.equal(model.bert.pooler.dense.weight, saved.pooler.dense.weight)


def test_each_task_declares_what_the_layers_above_ask_it():
    """Evaluation, export and the automatic choices read these instead of testing the task's name."""
    from tuneforge.tasks.base import get_task
    for name in ("text-classification", "token-classification", "image-classification"):
        task = get_task(name)
        assert task.metric_for_best in task.headline_metrics, name
    text, ner, image = (get_task(n) for n in ("text-classification", "token-classification", "image-classification"))
    assert text.single_label and image.single_label and not ner.single_label
    assert text.takes_text and ner.takes_text and not image.takes_text


def test_the_validation_metrics_a_task_declares_are_what_its_trainer_reports():
    """Tuning and pruning select on `validation_metrics`; they must be keys of compute_metrics' output."""
    import torch
    from transformers import EvalPrediction

    from tuneforge.tasks.base import find_task, get_task
    text, ner = get_task("text-classification"), get_task("token-classification")
    ids = text.preprocess_logits(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), None).numpy()  # what the Trainer keeps
    got = text.compute_metrics(["a", "b"])(EvalPrediction(ids, np.array([0, 1])))
    assert set(text.validation_metrics) <= set(got) and text.metric_for_best in text.validation_metrics
    tags = ["O", "B-PER", "I-PER"]
    ids = ner.preprocess_logits(torch.eye(3)[torch.tensor([[0, 1, 2, 0]])], None).numpy()  # one sentence: O B-PER I-PER O
    got = ner.compute_metrics(tags)(EvalPrediction(ids, np.array([[0, 1, 2, 0]])))
    assert set(ner.validation_metrics) <= set(got) and ner.metric_for_best in ner.validation_metrics
    assert ner.known_labels(tags) == {"PER"} and text.known_labels(["a", "b"]) == {"a", "b"}
    assert ner.label_kind == "entity types" and text.label_kind == "labels"
    assert find_task("no-such-task") is None and find_task(None) is None
