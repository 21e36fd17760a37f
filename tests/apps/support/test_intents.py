"""Routing by a real fine-tuned intent run (tiny BERT, trained here in seconds): a confident intent
restricts the candidates to its FAQ category, even against a closer question filed elsewhere."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
import yaml

from .conftest import make_assistant, write_faq

PEOPLE, MOVIES = ["john", "mary", "paris", "london"], ["movie", "plot", "cast", "music"]


@pytest.fixture(scope="module")
def intent_run(tmp_path_factory, tiny_bert) -> Path:
    from tuneforge.config import load_config
    from tuneforge.train.run import train
    tmp = tmp_path_factory.mktemp("intents")
    rng = random.Random(0)
    with (tmp / "intents.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(240):
            lab = rng.choice(["people", "movies"])
            words = rng.sample(PEOPLE if lab == "people" else MOVIES, 2)
            w.writerow([f"{words[0]} {rng.choice(['is', 'was', 'and'])} {words[1]} {i}", lab])
    cfg = {"task": "text-classification", "backbone": str(tiny_bert), "output_dir": str(tmp / "run"),
           "data": {"train": str(tmp / "intents.csv")},
           "train": {"method": "full", "epochs": 4, "batch_size": 8, "learning_rate": 3e-3, "head_learning_rate": 1e-2, "dropout": 0.0,
                     "max_length": 16, "seed": 0, "early_stopping_patience": 0, "evals_per_epoch": 1, "bf16": "false",
                     "freeze_embeddings": False}}
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return train(load_config(tmp / "config.yaml"), progress=False)


def test_confident_intent_routes_to_its_category(intent_run, tiny_bert, tmp_path):
    faq = write_faq(tmp_path / "faq.csv", [("john lives in london", "filed under movies", "movies"),
                                           ("mary works at acme", "about people", "people")])
    plain = make_assistant(faq, tiny_bert, tmp_path / "a.db", threshold=-1.0)
    assert plain.reply("john lives in london")["answer"] == "filed under movies"
    routed = make_assistant(faq, tiny_bert, tmp_path / "b.db", threshold=-1.0, intents=str(intent_run),
                            intent_threshold=0.6)
    r = routed.reply("john lives in london")
    assert r["intent"]["label"] == "people" and r["intent"]["routed"] is True and r["intent"]["probability"] >= 0.6
    assert r["answer"] == "about people" and r["category"] == "people"
    assert [a["question"] for a in r["alternatives"]] == ["mary works at acme"]  # nothing outside the category


def test_run_labels_must_be_faq_categories(intent_run, tiny_bert, tmp_path):
    from tuneforge.errors import TuneforgeError
    faq = write_faq(tmp_path / "faq.csv", [("q one", "a", "billing"), ("q two", "b", "shipping")])
    with pytest.raises(TuneforgeError, match="none of the run's labels"):
        make_assistant(faq, tiny_bert, tmp_path / "a.db", intents=str(intent_run))
