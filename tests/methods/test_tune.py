"""`tuneforge tune` on a tiny random BERT: a study in real SQLite that resumes, pruning that removes the
stopped trial's run directory, the outputs (table, plot, best config), and the `tune:` section's validation."""

from __future__ import annotations

import csv
import json
import random
import sqlite3

import pytest
import yaml

from tuneforge.config import load_config
from tuneforge.errors import TuneforgeError


def tune_config(tmp_path, tiny_bert, space, n=160, **tune):
    """One word decides the label (as in tests/train/test_train_tiny.py): a tiny random BERT learns it."""
    rng = random.Random(0)
    with (tmp_path / "reviews.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            lab = rng.choice(["pos", "neg"])
            word = rng.choice(["good", "great", "lovely"] if lab == "pos" else ["bad", "awful", "boring"])
            w.writerow([f"the {rng.choice(['movie', 'plot', 'cast'])} was {word} {i}", lab])
    raw = {"task": "text-classification", "backbone": str(tiny_bert), "output_dir": str(tmp_path / "run"),
           "data": {"train": str(tmp_path / "reviews.csv")},
           "train": {"method": "full", "epochs": 1, "batch_size": 8, "learning_rate": 3e-3, "head_learning_rate": 1e-2,
                     "dropout": 0.0, "max_length": 32, "freeze_embeddings": False, "evals_per_epoch": 2,
                     "early_stopping_patience": 0, "bf16": "false"},
           "tune": {"space": space, "output_dir": str(tmp_path / "study"), **tune}}
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def finished_trials(db) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as con:  # the study is plain SQLite: what a user would open
        return con.execute("SELECT number, state FROM trials ORDER BY number").fetchall()


def test_study_resumes_to_the_total_and_writes_table_plot_and_best_config(tmp_path, tiny_bert):
    from tuneforge.methods.tune import tune
    space = {"train.learning_rate": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
             "train.batch_size": {"choices": [8, 16]}}
    cfg_path = tune_config(tmp_path, tiny_bert, space, prune_after_trials=50)  # no pruning here
    # first part through the CLI verb, as a user would start it (in-process: a second interpreter costs seconds)
    from tuneforge.cli import main
    assert main(["tune", str(cfg_path), "--trials", "2", "--quiet"]) == 0
    study = tmp_path / "study"
    assert [s for _, s in finished_trials(study / "study.db")] == ["COMPLETE", "COMPLETE"]
    # "run again with --trials 3": one more trial, not three more
    res = tune(load_config(cfg_path), 3, progress=False)
    assert res.finished == 3
    assert [s for _, s in finished_trials(study / "study.db")] == ["COMPLETE"] * 3
    rows = list(csv.DictReader((study / "results.csv").open()))
    assert [int(r["trial"]) for r in rows] == [0, 1, 2]
    # the first trial is the config as given (its rate 3e-3 and batch 8 lie inside the space): the baseline
    assert (float(rows[0]["train.learning_rate"]), rows[0]["train.batch_size"]) == (pytest.approx(3e-3), "8")
    assert rows[0]["note"] == "config as given" and not rows[1]["note"]
    assert all(1e-3 <= float(r["train.learning_rate"]) <= 1e-2 and r["train.batch_size"] in ("8", "16")
               for r in rows)
    assert "| trial |" in (study / "results.md").read_text()
    assert (study / "tune.png").read_bytes()[:4] == b"\x89PNG"
    # the best values, in a config that trains as it is; only the best trial's run directory is kept
    best = load_config(study / "best.yaml")
    assert best.train.learning_rate == pytest.approx(res.best_params["train.learning_rate"])
    assert best.train.batch_size == res.best_params["train.batch_size"]
    assert best.data.train == load_config(cfg_path).data.train
    kept = sorted(p.name for p in study.glob("trial-*"))
    assert kept == [f"trial-{res.best_number:04d}"]
    m = json.loads((study / kept[0] / "metrics.json").read_text())
    assert m["validation"]["macro_f1"] == pytest.approx(res.best_value)
    # different seeds across the resume: the third trial is not a replay of the first
    assert rows[2]["train.learning_rate"] != rows[0]["train.learning_rate"]


def test_a_pruned_trial_stops_early_and_its_run_directory_is_removed(tmp_path, tiny_bert):
    import optuna
    from optuna.distributions import CategoricalDistribution

    from tuneforge.methods.tune import tune
    space = {"train.learning_rate": {"choices": [5.0e-3, 1.0e-9]},
             "train.head_learning_rate": {"choices": [3.0e-2, 1.0e-9]}}
    cfg_path = tune_config(tmp_path, tiny_bert, space, n=120, prune_after_trials=1, prune_warmup_evals=0)
    study_dir = tmp_path / "study"
    study_dir.mkdir()
    # An earlier trial that scored a perfect 1.0 at every evaluation (added through Optuna's own API, so
    # the test trains once), then a trial that cannot learn: it trails that median at its first evaluation.
    st = optuna.create_study(storage=f"sqlite:///{study_dir / 'study.db'}", study_name="tune", direction="maximize")
    dists = {k: CategoricalDistribution(v["choices"]) for k, v in space.items()}
    st.add_trial(optuna.trial.create_trial(params={"train.learning_rate": 5.0e-3, "train.head_learning_rate": 3.0e-2},
                                           distributions=dists, value=1.0,
                                           intermediate_values={1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}))
    st.enqueue_trial({"train.learning_rate": 1.0e-9, "train.head_learning_rate": 1.0e-9})
    res = tune(load_config(cfg_path, ["train.epochs=2"]), 2, progress=False)
    assert [s for _, s in finished_trials(study_dir / "study.db")] == ["COMPLETE", "PRUNED"]
    assert res.finished == 2 and res.best_number == 0
    assert not (study_dir / "trial-0001").exists()  # the pruned trial left nothing behind
    rows = list(csv.DictReader((study_dir / "results.csv").open()))
    assert rows[1]["state"] == "pruned" and rows[1]["evals"] == "1"  # stopped at the first of 4 evaluations


def test_report_callback_prunes_below_the_median():
    import optuna

    from tuneforge.methods.tune import ReportToOptuna
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    study.optimize(lambda t: (t.report(0.9, 1), 0.9)[1], n_trials=1)
    trial = study.ask()
    cb = ReportToOptuna(trial, "macro_f1")
    cb.on_evaluate(None, None, None, metrics={"eval_loss": 0.1})  # not the watched metric: ignored
    assert cb.evals == 0
    with pytest.raises(optuna.TrialPruned):
        cb.on_evaluate(None, None, None, metrics={"eval_macro_f1": 0.4})
    assert trial.user_attrs["pruned_at_eval"] == 1


def test_baseline_params_keep_what_lies_in_the_space():
    from tuneforge.config import Config
    from tuneforge.methods.tune import baseline_params
    cfg = Config()  # learning rates left to the task (None): the task's defaults are the baseline
    cfg.train.batch_size, cfg.train.warmup_ratio = 64, 0.06
    space = {"train.learning_rate": {"low": 1.0e-5, "high": 3.0e-4, "log": True},
             "train.batch_size": {"choices": [16, 32]},          # 64 is not a choice: sampled instead
             "train.warmup_ratio": {"low": 0.1, "high": 0.2}}     # 0.06 is outside: sampled instead
    assert baseline_params(cfg, space) == {"train.learning_rate": pytest.approx(1e-4)}
    assert baseline_params(cfg, {"train.epochs": {"low": 1, "high": 5, "step": 2}}) == {"train.epochs": 3}
    cfg.train.epochs = 4
    assert baseline_params(cfg, {"train.epochs": {"low": 1, "high": 5, "step": 2}}) == {}


@pytest.mark.parametrize("warmup", [0, 1, 2])
def test_prune_warmup_protects_exactly_the_first_evaluations(warmup):
    import optuna

    from tuneforge.config import TuneConfig
    from tuneforge.methods.tune import ReportToOptuna, make_pruner
    study = optuna.create_study(direction="maximize",
                                pruner=make_pruner(TuneConfig(prune_after_trials=1, prune_warmup_evals=warmup)))
    study.optimize(lambda t: ([t.report(0.9, k) for k in (1, 2, 3)], 0.9)[1], n_trials=1)
    cb = ReportToOptuna(study.ask(), "macro_f1")
    for k in range(1, warmup + 1):  # far below the median, but inside the warm-up: never pruned
        cb.on_evaluate(None, None, None, metrics={"eval_macro_f1": 0.1})
    with pytest.raises(optuna.TrialPruned):
        cb.on_evaluate(None, None, None, metrics={"eval_macro_f1": 0.1})
    assert cb.evals == warmup + 1


@pytest.mark.parametrize("space, message", [
    ({"train.learnin_rate": {"low": 1.0e-5, "high": 1.0e-4}}, "did you mean train.learning_rate"),
    ({"train": {"low": 1, "high": 2}}, "names no config field"),
    ({"output_dir": {"choices": ["a", "b"]}}, "cannot be searched"),
    ({"train.learning_rate": {"low": 3.0e-4, "high": 1.0e-5}}, "not below high"),
    ({"train.learning_rate": {"low": 0.0, "high": 1.0e-4, "log": True}}, "log scale needs low > 0"),
    ({"train.learning_rate": {"low": 1.0e-5, "high": 2.0}}, "high 2.0 is not a valid value"),
    ({"train.learning_rate": {"low": "1e-5", "high": 1.0e-4}}, "YAML reads 1e-5 as text"),
    ({"train.learning_rate": {"lo": 1.0e-5, "high": 1.0e-4}}, "did you mean low"),
    ({"train.batch_size": {"low": 8.5, "high": 32}}, "is an integer"),
    ({"train.batch_size": {"choices": []}}, "non-empty list"),
    ({"train.batch_size": {"choices": [16, 0]}}, "choice 0 is not a valid value"),
    ({"train.bf16": {"low": 0, "high": 1}}, "range needs a number"),
    ({"train.epochs": {"low": 1, "high": 4, "step": 2}}, "whole number of steps"),
])
def test_bad_search_spaces_name_the_key_and_the_fix(tmp_path, space, message):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"data": {"train": "x.csv"}, "tune": {"space": space}}))
    with pytest.raises(TuneforgeError) as e:
        load_config(p)
    assert message in e.value.message()
    assert "tune.space" in e.value.message()


def test_tune_section_checks_and_nested_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"data": {"train": "x.csv"}}))
    with pytest.raises(TuneforgeError, match="does not report"):
        load_config(p, ["tune.metric=entity_f1"])
    with pytest.raises(TuneforgeError, match="maximize or minimize"):
        load_config(p, ["tune.direction=up"])
    # the command line builds nested mappings; they mean the same dotted key
    cfg = load_config(p, ["tune.space.train.learning_rate.low=1.0e-5", "tune.space.train.learning_rate.high=1.0e-4"])
    from tuneforge.methods.tune_space import flatten_space
    assert flatten_space(cfg.tune.space) == {"train.learning_rate": {"low": 1.0e-5, "high": 1.0e-4}}


def test_cli_reports_an_empty_space_as_a_one_paragraph_error(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"data": {"train": str(tmp_path / "x.csv")}}))
    from tuneforge.cli import main
    assert main(["tune", str(p), "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert "tune.space` is empty" in err and "fix:" in err and "Traceback" not in err
