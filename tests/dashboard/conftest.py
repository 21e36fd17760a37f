"""Tiny trained runs (two sentiment runs, one Chinese NER run), a registry holding the sentiment runs with
an A/B split, and a real uvicorn server on a loopback port for any ASGI app."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from factories import LiveServer, write_ner, write_reviews



def _train(out: Path, backbone: Path, task: str, data: Path, seed: int, epochs: float) -> Path:
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    cfg = {"task": task, "backbone": str(backbone), "output_dir": str(out), "data": {"train": str(data)},
           "train": {"method": "full", "epochs": epochs, "batch_size": 8, "learning_rate": 3e-3, "head_learning_rate": 1e-2,
                     "dropout": 0.0, "max_length": 32, "seed": seed, "early_stopping_patience": 0,
                     "evals_per_epoch": 1, "logging_steps": 5, "bf16": "false",
                     "freeze_embeddings": False}}  # random embeddings: freezing them only handicaps
    p = data.parent / f"{out.name}.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return train(load_config(p), progress=False)


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory, tiny_bert) -> Path:
    """runs/sentiment-v1 (learns well), runs/sentiment-v2 (less), runs/ner/people-places (Chinese NER)."""
    base = tmp_path_factory.mktemp("dash")
    data, runs = base / "data", base / "runs"
    data.mkdir()
    _train(runs / "sentiment-v1", tiny_bert, "text-classification", write_reviews(data / "r1.csv", 120, 1), 1, 3)
    _train(runs / "sentiment-v2", tiny_bert, "text-classification", write_reviews(data / "r2.csv", 120, 2), 2, 1)
    _train(runs / "ner" / "people-places", tiny_bert, "token-classification", write_ner(data / "ner.txt", 50, 3), 3, 4)
    return runs


@pytest.fixture(scope="session")
def registry_dir(runs_dir, tmp_path_factory) -> Path:
    """sentiment: v1 production, v2 staging, split 80/20 between them."""
    from tuneforge.store.registry import Registry
    root = tmp_path_factory.mktemp("registry")
    reg = Registry(root)
    reg.add("sentiment", runs_dir / "sentiment-v1", stage="production")
    reg.add("sentiment", runs_dir / "sentiment-v2", stage="staging")
    reg.set_traffic("sentiment", {"1": 80, "2": 20})
    return root


Server = LiveServer  # a real uvicorn server on a loopback socket (tests/factories.py)
