"""What `tuneforge train` prints: one clean line per validation pass by default, the summary alone with
--quiet, the Trainer's raw dicts and transformers' reports with --verbose. Runs the real CLI entry point
in this process on a tiny random model."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from factories import make_config, write_sentiment
from transformers import TrainerState

from tuneforge.cli import main
from tuneforge.train.console import EvalLineCallback

EVAL_LINE = re.compile(r"^epoch (\d+\.\d\d)  step (\d+)  train loss \d+\.\d{4}  val loss \d+\.\d{4}  "
                       r"val macro_f1 \d\.\d{4}(  \(best\))?$", re.M)
# transformers' loading report for the head tuneforge initialises on purpose, and its weight bars
NOISE = ("LOAD REPORT", "MISSING", "newly initialized", "Loading weights", "Writing model shards")
SUMMARY = ("== test (12 examples) ==", "A few test predictions:", "run directory:")


@pytest.fixture
def config(tmp_path, tiny_bert):
    data = write_sentiment(tmp_path / "reviews.csv", 120)
    # 96 training rows in batches of 8: 12 steps an epoch, validated twice an epoch (steps 6, 12, 18, 24);
    # no early stopping, so all four validations happen whatever the scores
    return make_config(tmp_path, tiny_bert, "text-classification",
                       {"train": str(data), "text_column": "review", "label_column": "stars"},
                       epochs=2, evals_per_epoch=2, early_stopping_patience=0)


def train_cli(capfd, caplog, config, *flags) -> str:
    capfd.readouterr()  # drop what the fixtures printed
    assert main(["train", str(config), *flags]) == 0
    out, err = capfd.readouterr()
    # transformers' own handler writes to the stderr it found at first use (pytest's, during collection),
    # out of capfd's reach; its records also reach the root logger, where caplog holds them
    return out + err + caplog.text


def test_default_prints_one_clean_line_per_validation(config, capfd, caplog):
    text = train_cli(capfd, caplog, config)
    lines = EVAL_LINE.findall(text)
    assert [int(step) for _, step, _ in lines] == [6, 12, 18, 24]
    assert [ep for ep, _, _ in lines] == ["0.50", "1.00", "1.50", "2.00"]
    assert lines[0][2] == "  (best)"  # the first validation is always the best so far
    assert "{'loss'" not in text and "{'eval_loss'" not in text and "train_runtime" not in text
    assert not [n for n in NOISE if n in text]
    assert all(s in text for s in SUMMARY)


def test_quiet_prints_only_the_summary(config, capfd, caplog):
    text = train_cli(capfd, caplog, config, "--quiet")
    assert not EVAL_LINE.search(text) and "val macro_f1" not in text
    assert "it/s" not in text and "%|" not in text  # no tqdm bar of any kind
    assert "{'loss'" not in text and "{'eval_loss'" not in text
    assert not [n for n in NOISE if n in text]
    assert all(s in text for s in SUMMARY)


def test_verbose_shows_raw_dicts_and_transformers_reports(config, capfd, caplog):
    text = train_cli(capfd, caplog, config, "--verbose")
    assert "{'loss'" in text and "{'eval_loss'" in text
    assert "LOAD REPORT" in text and "MISSING" in text
    assert all(s in text for s in SUMMARY)


def test_quiet_and_verbose_exclude_each_other(config, capsys):
    with pytest.raises(SystemExit):
        main(["train", str(config), "--quiet", "--verbose"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_eval_line_only_on_the_first_process(capsys):
    """Under `accelerate launch` every process runs the callbacks: only world process 0 may print."""
    args = SimpleNamespace(greater_is_better=True)
    metrics = {"eval_loss": 0.61, "eval_macro_f1": 0.7421}
    for zero in (False, True):
        cb = EvalLineCallback("macro_f1")
        state = TrainerState(epoch=1.0, global_step=50, is_world_process_zero=zero, best_metric=0.8)
        cb.on_log(args, state, None, logs={"loss": 0.7})
        cb.on_log(args, state, None, logs={"loss": 0.6850})
        cb.on_evaluate(args, state, None, metrics=metrics)
    # below best_metric 0.8: no "(best)"; the train loss is the mean of the losses logged since the last one
    assert capsys.readouterr().out == "epoch 1.00  step 50  train loss 0.6925  val loss 0.6100  val macro_f1 0.7421\n"
