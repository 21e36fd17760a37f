"""Adversarial training (FGM/PGD on the word-embedding output) on a tiny random BERT: the gradients it
adds are the ones of the perturbed loss, frozen embeddings still get perturbed, fgm and pgd runs train
end to end, and bad settings are refused with the key named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from factories import write_sentiment
from tuneforge.config import load_config
from tuneforge.errors import TuneforgeError
from tuneforge.train.adversarial import EmbeddingAdversary
from tuneforge.train.run import train


def make_config(tmp: Path, backbone: Path, data: Path, **train) -> Path:
    cfg = {"task": "text-classification", "backbone": str(backbone), "output_dir": str(tmp / "run"),
           "data": {"train": str(data), "text_column": "review", "label_column": "stars"},
           "train": {"method": "full", "epochs": 3, "batch_size": 8, "learning_rate": 3e-3, "head_learning_rate": 1e-2, "dropout": 0.0,
                     "max_length": 32, "logging_steps": 2, "freeze_embeddings": False,
                     "bf16": "false", **train}}  # forced: quality asserts must not hang on the CPU's choice
    p = tmp / "config.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


def _model_and_batch(tiny_bert):
    from transformers import AutoTokenizer, BertForSequenceClassification
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=2, hidden_dropout_prob=0.0,
                                                          attention_probs_dropout_prob=0.0)
    model.get_input_embeddings().weight.requires_grad_(False)  # the default for classification: frozen matrix
    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    batch = dict(tok(["the movie was good", "awful plot and it is boring"], padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([1, 0])
    return model, batch


def _trainer(model, tmp_path, adversary):
    from transformers import TrainingArguments

    from tuneforge.train.trainer import GroupedLRTrainer
    args = TrainingArguments(output_dir=str(tmp_path / "t"), report_to="none", use_cpu=True,
                             per_device_train_batch_size=2, remove_unused_columns=False)
    trainer = GroupedLRTrainer(model=model, args=args, adversary=adversary)
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which this test bypasses
    return trainer


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_fgm_adds_exactly_the_gradient_of_the_perturbed_loss(tiny_bert, tmp_path):
    model, batch = _model_and_batch(tiny_bert)
    eps = 0.5
    # Reference, written independently through inputs_embeds: clean gradient + gradient at emb + eps*g/||g||.
    emb = model.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_(True)
    rest = {k: v for k, v in batch.items() if k != "input_ids"}
    model.zero_grad()
    model(inputs_embeds=emb, **rest).loss.backward()
    g = emb.grad
    delta = eps * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)
    model(inputs_embeds=emb.detach() + delta, **rest).loss.backward()
    want = _grads(model)

    model.zero_grad()
    plain = _trainer(model, tmp_path, None)
    plain.training_step(model, dict(batch))
    clean_only = _grads(model)

    model.zero_grad()
    adv = _trainer(model, tmp_path, EmbeddingAdversary("fgm", epsilon=eps))
    adv.training_step(model, dict(batch))
    got = _grads(model)

    assert "bert.embeddings.word_embeddings.weight" not in got  # frozen, and still perturbed
    assert set(got) == set(want)
    changed = 0
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-4, atol=1e-6)
        changed += not torch.allclose(got[n], 2 * clean_only[n], rtol=1e-3, atol=1e-7)
    assert changed > len(want) // 2  # the adversarial half is not a copy of the clean gradient


def test_pgd_delta_stays_in_the_ball_and_raises_the_loss(tiny_bert):
    model, batch = _model_and_batch(tiny_bert)
    emb_module = model.get_input_embeddings()
    for method in ("fgm", "pgd"):
        adv = EmbeddingAdversary(method, epsilon=1.0, steps=4, alpha=0.4)
        with adv.record(emb_module) as kept:
            clean = model(**batch).loss
            clean.backward()

        def loss_fn():
            return model(**batch).loss

        delta = adv.delta(emb_module, kept[0], loss_fn)
        norms = delta.flatten(1).norm(dim=1)
        assert torch.all(norms <= 1.0 + 1e-5)
        if method == "fgm":
            torch.testing.assert_close(norms, torch.ones_like(norms))
        with adv.perturb(emb_module, delta), torch.no_grad():
            perturbed = model(**batch).loss
        assert perturbed > clean.detach()  # a step up the loss surface, not a random one


def test_fgm_and_pgd_runs_train_end_to_end(tiny_bert, tmp_path):
    data = write_sentiment(tmp_path / "reviews.csv", 240)
    # epsilon is an absolute L2 norm: the tiny model's embedding vectors are ~0.1 long (init std 0.02 x 32
    # dims), so 0.05 here plays the part 1.0 plays for a real BERT's ~1-long token vectors.
    for method, epochs in (("fgm", 5), ("pgd", 2)):  # pgd costs 1 + steps passes per step: fewer epochs
        d = tmp_path / method
        d.mkdir()
        cfg = load_config(make_config(d, tiny_bert, data, epochs=epochs, adversarial=method,
                                      adversarial_epsilon=0.05, adversarial_steps=2))
        out = train(cfg, progress=False)
        m = json.loads((out / "metrics.json").read_text())
        losses = [h["loss"] for h in json.loads((out / "log_history.json").read_text()) if "loss" in h]
        assert losses[-1] < 0.8 * losses[0], (method, losses)
        if method == "fgm":
            assert m["test"]["accuracy"] >= 0.8, m["test"]
        assert load_config(out / "config.yaml").train.adversarial == method


@pytest.mark.parametrize("override, key", [
    ("train.adversarial=fgsm", "train.adversarial"),
    ("train.adversarial_epsilon=0", "train.adversarial_epsilon"),
    ("train.adversarial_epsilon=-1", "train.adversarial_epsilon"),
    ("train.adversarial_steps=0", "train.adversarial_steps"),
    ("train.adversarial_alpha=2.0", "train.adversarial_alpha"),  # larger than epsilon (1.0)
])
def test_bad_adversarial_settings_are_refused(tmp_path, override, key):
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,b\n", encoding="utf-8")
    with pytest.raises(TuneforgeError) as e:
        load_config(None, [f"data.train={data}", "train.adversarial=pgd", override])
    assert key in e.value.what and e.value.where == "command line" and e.value.fix
