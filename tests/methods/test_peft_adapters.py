"""PEFT tuning (train.method lora / ia3) on tiny random BERTs: the run trains only the adapter and the head,
saves RUN/adapter/ and merged weights that every loader reads, reloads to identical logits both ways,
gives the adapter the body rate and the head the head rate; prefix/prompt and bad peft.* keys are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import BertModel

from factories import write_ner, write_sentiment
from tuneforge.config import load_config
from tuneforge.errors import TuneforgeError
from tuneforge.methods.peft_adapters import (ADAPTER_DIR, DEFAULT_LEARNING_RATES, default_target_modules,
                                             load_adapter_model, wrap_model)
from tuneforge.rundir import load_run
from tuneforge.train.run import prepare, train

TEXTS = ["the movie was great", "awful plot and boring cast", "john lives in paris", "it is not very good"]


def make_config(tmp: Path, backbone: Path, task: str, method: str, peft: dict | None = None, n: int = 80,
                **train) -> Path:
    if task == "text-classification":
        data = {"train": str(write_sentiment(tmp / "reviews.csv", n)), "text_column": "review",
                "label_column": "stars"}
    else:
        data = {"train": str(write_ner(tmp / "ner.txt", n // 2, scheme="BIO"))}
    # one validation (and checkpoint) per epoch: saving checkpoints is most of a tiny run's time
    cfg = {"task": task, "backbone": str(backbone), "output_dir": str(tmp / "run"), "data": data,
           "train": {"method": method, "epochs": 1, "batch_size": 8, "learning_rate": 1e-2, "head_learning_rate": 3e-2,
                     "dropout": 0.0, "max_length": 32, "logging_steps": 5, "evals_per_epoch": 1,
                     "bf16": "false", **train},  # forced: quality asserts must not hang on the CPU's choice
           "peft": peft or {}}
    p = tmp / "config.yaml"
    p.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return p


def logits(model, tokenizer, texts=TEXTS) -> torch.Tensor:
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(**batch).logits.float()


@pytest.mark.parametrize("task,method", [("text-classification", "lora"), ("text-classification", "ia3"),
                                         ("token-classification", "lora"), ("token-classification", "ia3")])
def test_peft_run_saves_adapter_and_merged_weights_that_reload_identically(tmp_path, tiny_bert, task, method):
    out = train(load_config(make_config(tmp_path, tiny_bert, task, method)), progress=False)
    assert (out / ADAPTER_DIR / "adapter_model.safetensors").is_file()
    assert (out / ADAPTER_DIR / "adapter_config.json").is_file()
    assert (out / "model.safetensors").is_file()  # the merged model: what predict/export/serve load
    m = json.loads((out / "metrics.json").read_text())["train"]
    assert m["method"] == method
    assert 0 < m["trainable_parameters"] < m["total_parameters"]
    assert m["trainable_share"] == pytest.approx(m["trainable_parameters"] / m["total_parameters"], abs=1e-6)
    card = (out / "README.md").read_text()
    assert f"train.method={method}" in card and "adapter/" in card
    saved = yaml.safe_load((out / "config.yaml").read_text())
    default = default_target_modules(method, "bert")
    assert saved["peft"]["target_modules"][:len(default)] == default  # resolved, not None (+ the pooler's, if used)
    if method == "lora":  # every linear layer of the encoder carries an adapter, the feed-forward ones too
        from safetensors import safe_open
        with safe_open(str(out / ADAPTER_DIR / "adapter_model.safetensors"), "pt") as f:
            keys = " ".join(f.keys())
        for layer in ("query", "key", "value", "attention.output.dense", "intermediate.dense", "0.output.dense"):
            assert f"{layer}.lora_A" in keys, layer

    run = load_run(out)  # the unchanged loader: merged weights as a plain Hugging Face model
    assert "lora" not in " ".join(n for n, _ in run.model.named_parameters())
    merged = logits(run.model, run.tokenizer)
    adapted = logits(load_adapter_model(out), run.tokenizer)  # base backbone + RUN/adapter/
    torch.testing.assert_close(merged, adapted, atol=1e-5, rtol=0)
    # both carry the trained head (modules_to_save): a fresh, untrained head would answer differently
    base, _ = run.task.build_model(str(tiny_bert), run.labels, run.cfg)
    assert not torch.allclose(logits(base.eval(), run.tokenizer), merged, atol=1e-3)
    assert run.predict(TEXTS)[0]["text"] == TEXTS[0]


def test_lora_learns_with_a_frozen_body(tmp_path, tiny_bert):
    out = train(load_config(make_config(tmp_path, tiny_bert, "text-classification", "lora",
                                        peft={"r": 4, "alpha": 8}, n=240, epochs=5)), progress=False)
    m = json.loads((out / "metrics.json").read_text())
    assert m["test"]["accuracy"] >= 0.75 > m["baseline_majority"]["accuracy"]
    # r=4 on the 2 layers' query, key, value and attention output (32 -> 32: 4 x 4 x (32 + 32)) and their
    # feed-forward pair (32 -> 64 -> 32: 2 x 4 x (32 + 64)), + the 2-class head (66): nothing else trains
    assert m["train"]["trainable_parameters"] == 2 * (4 * 4 * (32 + 32) + 2 * 4 * (32 + 64)) + 32 * 2 + 2


def test_adapter_gets_body_rate_and_head_gets_head_rate(tmp_path, tiny_bert):
    from tuneforge.train.trainer import build_trainer
    cfg = load_config(make_config(tmp_path, tiny_bert, "text-classification", "lora", learning_rate=2e-3,
                                  head_learning_rate=5e-2, freeze_embeddings=False))
    task, splits, backbone, tok, labels, _ = prepare(cfg, progress=False)
    model, fresh = task.build_model(backbone, labels, cfg)
    model, fresh = wrap_model(model, fresh, cfg)
    assert fresh and all("classifier.modules_to_save" in n for n in fresh)
    assert cfg.train.freeze_embeddings is True  # PEFT froze them; the resolved config says so
    assert not model.get_input_embeddings().weight.requires_grad
    feats = task.encode(tok, splits.train, labels, 32)
    trainer = build_trainer(cfg, model, tok, feats, feats, task.collator(tok), task.compute_metrics(labels),
                            task.preprocess_logits, fresh, cfg.train.head_learning_rate, task.metric_for_best,
                            str(tmp_path / "ckpt"), False, progress=False)
    opt = trainer.create_optimizer()
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    lora = [p for n, p in named.items() if "lora_" in n]
    head = [named[n] for n in fresh]
    assert lora and {lr_of[id(p)] for p in lora} == {2e-3}
    assert {lr_of[id(p)] for p in head} == {5e-2}
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == sum(
        p.numel() for p in model.parameters() if p.requires_grad)  # no frozen weight in the optimizer


def test_lora_default_learning_rate_is_the_measured_one(tmp_path, tiny_bert):
    cfg = load_config(make_config(tmp_path, tiny_bert, "text-classification", "lora", learning_rate=None))
    prepare(cfg, progress=False)
    assert cfg.train.learning_rate == DEFAULT_LEARNING_RATES["lora"]
    full = load_config(make_config(tmp_path, tiny_bert, "text-classification", "full", learning_rate=None))
    prepare(full, progress=False)
    assert full.train.learning_rate == 1e-4  # full fine-tuning keeps the task's default


@pytest.mark.parametrize("task", ["text-classification", "token-classification"])
@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_prefix_and_prompt_are_refused_with_the_fix(tmp_path, tiny_bert, task, method):
    with pytest.raises(TuneforgeError) as e:
        load_config(make_config(tmp_path, tiny_bert, task, method))
    assert "train.method" in e.value.what and method in e.value.what
    assert "lora" in e.value.fix
    path, line = e.value.where.rsplit(":", 1)  # file:line of `method:` in the YAML
    assert Path(path).read_text().splitlines()[int(line) - 1].strip() == f"method: {method}"


@pytest.mark.parametrize("key,value", [("r", 0), ("alpha", 0), ("dropout", 1.0), ("target_modules", [])])
def test_bad_peft_keys_are_refused_naming_the_key(tmp_path, tiny_bert, key, value):
    with pytest.raises(TuneforgeError) as e:
        load_config(make_config(tmp_path, tiny_bert, "text-classification", "lora", peft={key: value}))
    assert f"peft.{key}" in e.value.what


def test_unknown_architecture_needs_target_modules():
    with pytest.raises(TuneforgeError) as e:
        default_target_modules("lora", "my-own-arch")
    assert e.value.where == "peft.target_modules"
    # LoRA on every linear layer of a BERT-style encoder (measured on polarity); IA3 keeps PEFT's choice
    assert default_target_modules("lora", "bert") == ["query", "key", "value", "output.dense", "intermediate.dense"]
    assert default_target_modules("lora", "bert", pretrained_pooler=True)[-1] == "pooler.dense"
    assert default_target_modules("ia3", "bert") == ["key", "value", "output.dense"]



def test_cli_refuses_prompt_tuning_in_one_paragraph(tmp_path, tiny_bert):
    cfg = make_config(tmp_path, tiny_bert, "text-classification", "lora")
    r = subprocess.run([sys.executable, "-m", "tuneforge.cli", "train", str(cfg), "train.method=prompt"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "train.method" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_pooler_trains_only_where_tuneforge_initialised_it(tmp_path, tiny_bert):
    cfg = load_config(make_config(tmp_path, tiny_bert, "text-classification", "lora", pooling="cls"))
    task, _, backbone, _, labels, _ = prepare(cfg, progress=False)
    model, fresh = wrap_model(*task.build_model(backbone, labels, cfg), cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    # the tiny checkpoint ships no pooler: it starts at identity and must train (and be saved) with the head
    assert any(".pooler.modules_to_save." in n for n in trainable)
    assert not any("pooler" in n for n in fresh)  # ... at the body rate, as in full fine-tuning
    pretrained = tmp_path / "with-pooler"  # the same body saved with a (random, i.e. not identity) pooler
    BertModel.from_pretrained(str(tiny_bert), add_pooling_layer=True).save_pretrained(pretrained)
    model, _ = wrap_model(*task.build_model(str(pretrained), labels, cfg), cfg)
    assert not any("pooler" in n for n, p in model.named_parameters() if p.requires_grad)  # stays frozen
