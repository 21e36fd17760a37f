"""`tuneforge tune CONFIG --trials N`: hyperparameter search with Optuna over the config's `tune.space`.

Each trial is an ordinary `tuneforge train` (tuneforge.train.run.train) of the config with the trial's values,
into its own run directory under the study directory. The study lives in SQLite there (study.db), so running
the same command again after a kill resumes it: `--trials N` is the total of finished trials, not N more.

  Trial 0 of a new study is the config as given (baseline_params; "config as given" in the table), so the
  best trial is never worse on validation than where the user started.
  TPE (Optuna's default sampler) seeded from train.seed: the first `tune.startup_trials` are random, then it
  models which values score well. MedianPruner: every validation evaluation inside a trial is reported to
  Optuna; a trial whose score is below the median of earlier trials at the same evaluation stops there
  (its run directory is removed), which is what makes a CPU-sized budget go further.

The objective is the *validation* score of the restored best checkpoint, never the test score: choosing among
N trials by test accuracy would report an optimistically biased number. The test score of each trial is only
shown in the results table.
One process drives a study at a time (a trial left RUNNING is taken to be from a killed run).
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml
from transformers import TrainerCallback

from ..config import Config, TuneConfig, validate
from ..data.splits import load_splits
from ..errors import TuneforgeError
from ..rundir import METRICS_FILE
from ..tasks.base import get_task
from ..train.auto import DEFAULT_EPOCHS
from ..train.run import train
from .registry import METHODS
from .tune_space import field_type, flatten_space, set_field


@dataclass
class TuneResult:
    study_dir: Path
    study_name: str
    metric: str
    direction: str
    finished: int  # COMPLETE + PRUNED trials in the study
    best_number: int | None
    best_value: float | None
    best_params: dict
    files: dict


class ReportToOptuna(TrainerCallback):
    """Hands every validation score to the trial; raises optuna.TrialPruned when the pruner says stop.
    The step is the evaluation's index, not the optimizer step: trials with different batch sizes take
    different numbers of steps but evaluate at the same fractions of an epoch (train.evals_per_epoch)."""

    def __init__(self, trial, metric: str):
        self.trial, self.metric, self.evals = trial, metric, 0

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        import optuna
        value = (metrics or {}).get(f"eval_{self.metric}")
        if value is None:
            return
        self.evals += 1
        self.trial.report(float(value), self.evals)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_eval", self.evals)
            raise optuna.TrialPruned(f"validation {self.metric} {value:.4f} at evaluation {self.evals} is worse "
                                     "than the median of earlier trials there")


def _no_traceback_for_user_errors(record: logging.LogRecord) -> bool:
    """Optuna logs a failed trial with its traceback; a TuneforgeError is printed by the CLI as one paragraph."""
    if record.exc_info and isinstance(record.exc_info[1], TuneforgeError):
        record.exc_info = None
    return True


def _suggest(trial, key: str, spec: dict):
    if "choices" in spec:
        return trial.suggest_categorical(key, spec["choices"])
    if field_type(key) is int:
        return trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step") or 1,
                                 log=bool(spec.get("log")))
    return trial.suggest_float(key, float(spec["low"]), float(spec["high"]), step=spec.get("step"),
                               log=bool(spec.get("log")))


def baseline_params(cfg: Config, space: dict) -> dict:
    """The config's own values of the searched keys, where they lie inside the space: enqueued as a new study's
    first trial, so the search is measured against where the user started and never reports a best config
    that is worse on validation than it. A key left to its task default (None) takes that default (the body
    and head learning rates, epochs); any other None, or a value outside the space, is sampled as usual."""
    d = get_task(cfg.task).defaults
    method = METHODS.get(cfg.train.method)  # None for "auto", resolved only once the data is read
    filled = {"train.learning_rate": method.default_learning_rate(d.learning_rate) if method else d.learning_rate,
              "train.head_learning_rate": d.head_learning_rate,
              # auto epochs: 3 unless the data is too small for train.min_steps; a searched epochs replaces
              # auto in every trial, so the baseline trial takes the default a large data set would get
              "train.epochs": DEFAULT_EPOCHS}
    out = {}
    for key, spec in space.items():
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)
        value = filled.get(key) if node is None else node
        if value is None:
            continue
        if "choices" in spec:
            if value in spec["choices"]:
                out[key] = value
        elif float(spec["low"]) <= value <= float(spec["high"]):
            k = (value - spec["low"]) / spec["step"] if spec.get("step") else 0.0
            if abs(k - round(k)) < 1e-9:  # on the step grid Optuna samples from
                out[key] = value
    return out


def with_params(cfg: Config, params: dict, output_dir: str | None = None) -> Config:
    """A copy of the config with the trial's values (and its own output_dir), validated like any config."""
    out = copy.deepcopy(cfg)
    for key, value in params.items():
        set_field(out, key, value)
    if output_dir is not None:
        out.output_dir = output_dir
    validate(out)
    return out


def make_pruner(tc: TuneConfig):
    import optuna
    # Evaluations are reported as steps 1, 2, ... and Optuna prunes once step >= n_warmup_steps, so "never at
    # the first N evaluations" is N + 1. (Passing N let a trial be cut at its first, half-epoch evaluation
    # with warm-up 1: on polarity 6 of 12 trials were, at half an epoch.)
    return optuna.pruners.MedianPruner(n_startup_trials=tc.prune_after_trials,
                                       n_warmup_steps=tc.prune_warmup_evals + 1)


def _study_dir(cfg: Config) -> Path:
    return Path(cfg.tune.output_dir or f"{cfg.output_dir.rstrip('/')}-tune")


def tune(cfg: Config, trials: int, study_name: str | None = None, timeout: float | None = None,
         progress: bool = True) -> TuneResult:
    import optuna
    from optuna.trial import TrialState


    validate(cfg)  # every section's rules, the tune space's included (config/checks.py)
    if trials < 1:
        raise TuneforgeError(f"--trials is {trials}", where="command line", fix="ask for at least one trial")
    space = flatten_space(cfg.tune.space)
    if not space:
        raise TuneforgeError("`tune.space` is empty: there is nothing to search", where=cfg.config_path or "config",
                             fix="add e.g. tune: {space: {train.learning_rate: {low: 1.0e-5, high: 3.0e-4, log: true}}}")
    if not cfg.data.validation and cfg.data.split[1] == 0:
        raise TuneforgeError("tuning needs a validation split (data.split gives validation 0 and there is no "
                             "data.validation)", where=cfg.config_path or "config",
                             fix="give data.validation, or a validation share in data.split")
    metric = cfg.tune.metric or get_task(cfg.task).metric_for_best
    if cfg.tune.direction == "auto":  # resolved: the study, results and best.yaml say which
        cfg.tune.direction = "minimize" if metric == "loss" else "maximize"
    study_dir = _study_dir(cfg)
    study_dir.mkdir(parents=True, exist_ok=True)
    name = study_name or "tune"
    optuna.logging.set_verbosity(optuna.logging.INFO if progress else optuna.logging.WARNING)
    for h in logging.getLogger("optuna").handlers:
        h.addFilter(_no_traceback_for_user_errors)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(study_dir / 'study.db').resolve()}")
    study = optuna.create_study(storage=storage, study_name=name, direction=cfg.tune.direction,
                                load_if_exists=True)
    if study.direction.name.lower() != cfg.tune.direction:
        raise TuneforgeError(f"study {name!r} in {study_dir} was created to {study.direction.name.lower()}, the "
                             f"config now says {cfg.tune.direction}", where="tune.direction",
                             fix="use another --study name or tune.output_dir for a new study")
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # left RUNNING by a killed `tuneforge tune`: fail it (Optuna has no public call for a trial that
        # belongs to no live process) and drop its half-trained run directory
        storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        shutil.rmtree(t.user_attrs.get("run_dir", study_dir / "missing"), ignore_errors=True)
    if not study.trials:
        study.enqueue_trial(baseline_params(cfg, space), user_attrs={"baseline": True})
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    already = len(study.get_trials(deepcopy=False, states=done))
    # Seeded from train.seed, moved on by the trials already in the study: a resumed study must not draw
    # its first random trials again.
    study.sampler = optuna.samplers.TPESampler(seed=cfg.train.seed + len(study.trials),
                                               n_startup_trials=cfg.tune.startup_trials)
    study.pruner = make_pruner(cfg.tune)

    def objective(trial) -> float:
        params = {key: _suggest(trial, key, spec) for key, spec in space.items()}
        run_dir = study_dir / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        tcfg = with_params(cfg, params, str(run_dir))
        try:
            out = train(tcfg, progress=False, overwrite=True, callbacks=[ReportToOptuna(trial, metric)])
        except optuna.TrialPruned:
            shutil.rmtree(run_dir, ignore_errors=True)  # a stopped trial's checkpoints are of no use
            raise
        m = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
        if metric not in m.get("validation", {}):
            raise TuneforgeError(f"the trial's metrics.json has no validation {metric}", where=str(out / METRICS_FILE),
                                 fix="tuning needs a validation split")
        trial.set_user_attr("test", {k: v for k, v in m.get("test", {}).items() if k != "n"})
        trial.set_user_attr("runtime_s", m.get("train", {}).get("runtime_s"))
        return float(m["validation"][metric])

    def keep_best_only(study, frozen) -> None:
        if cfg.tune.keep_runs != "best" or frozen.state != TrialState.COMPLETE:
            return
        best = study.best_trial.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.number != best and "run_dir" in t.user_attrs:
                shutil.rmtree(t.user_attrs["run_dir"], ignore_errors=True)

    if trials > already:
        load_splits(cfg)  # data errors now, as one clean paragraph, not as trial 0's failure in Optuna's log
    try:
        if trials > already:
            study.optimize(objective, n_trials=trials - already, timeout=timeout, callbacks=[keep_best_only])
        elif progress:
            print(f"study {name!r} already has {already} finished trials (asked for {trials}); reporting only")
    finally:  # also after Ctrl-C: the table shows what has finished so far
        files = write_outputs(study, cfg, space, metric, study_dir)
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = study.best_trial if completed else None
    return TuneResult(study_dir, name, metric, cfg.tune.direction,
                      len(study.get_trials(deepcopy=False, states=done)),
                      best.number if best else None, best.value if best else None,
                      dict(best.params) if best else {}, files)


# ---------------------------------------------------------------- outputs

def _rows(study, space: dict, metric: str) -> list[dict]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name.lower(),
               f"validation_{metric}": None if t.value is None else round(t.value, 4)}
        row |= {k: t.params.get(k) for k in space}
        row |= {f"test_{k}": v for k, v in (t.user_attrs.get("test") or {}).items()}
        # last reported score and where: for a pruned trial, how far it got
        if t.intermediate_values:
            step = max(t.intermediate_values)
            row["evals"] = step
            row["last_eval_score"] = round(t.intermediate_values[step], 4)
        row["duration_s"] = round(t.duration.total_seconds(), 1) if t.duration else None
        row["note"] = "config as given" if t.user_attrs.get("baseline") else None
        kept = t.user_attrs.get("run_dir")
        row["run_dir"] = kept if t.state.name == "COMPLETE" and kept and Path(kept).is_dir() else None  # keep_runs
        rows.append(row)
    return rows


def _importances(study) -> dict:
    """fANOVA importances (Optuna's default evaluator) once there is something to compare; {} otherwise."""
    import optuna
    from optuna.trial import TrialState
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 3:
        return {}
    try:
        return {k: round(v, 3) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError):  # e.g. every completed trial drew the same values
        return {}


def write_outputs(study, cfg: Config, space: dict, metric: str, study_dir: Path) -> dict:
    from optuna.trial import TrialState
    rows = _rows(study, space, metric)
    files = {}
    if not rows:
        return files
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with (study_dir / "results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    files["csv"] = study_dir / "results.csv"
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = study.best_trial if completed else None
    imp = _importances(study)
    key = f"validation_{metric}"
    sign = -1 if cfg.tune.direction == "maximize" else 1
    ordered = sorted(rows, key=lambda r: (r[key] is None, sign * (r[key] or 0)))  # best first, unfinished last
    lines = [f"# Study `{study.study_name}`: {cfg.tune.direction} validation {metric}", "",
             f"{len(completed)} completed, {sum(r['state'] == 'pruned' for r in rows)} pruned, "
             f"{sum(r['state'] == 'fail' for r in rows)} failed."]
    if best:
        lines.append(f"Best: trial {best.number}, validation {metric} {best.value:.4f} "
                     f"({', '.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}' for k, v in best.params.items())}).")
    if imp:
        lines.append("Parameter importance (fANOVA): " + ", ".join(f"{k} {v}" for k, v in imp.items()) + ".")
    lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in ordered:
        lines.append("| " + " | ".join("" if r.get(c) is None else
                                        (f"{r[c]:.3g}" if isinstance(r[c], float) and c in space else str(r[c]))
                                        for c in cols) + " |")
    (study_dir / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    files["markdown"] = study_dir / "results.md"
    if completed:
        _plot(study, space, metric, cfg.tune.direction, imp, study_dir / "tune.png")
        files["plot"] = study_dir / "tune.png"
    if best:
        best_cfg = with_params(cfg, best.params)
        d = best_cfg.to_dict()
        d.pop("config_path", None)
        header = (f"# Best of {len(completed)} completed trials of study {study.study_name!r} ({study_dir}):\n"
                  f"# validation {metric} {best.value:.4f}, trial {best.number} "
                  f"(run directory: {best.user_attrs.get('run_dir')}).\n"
                  f"# Train it: tuneforge train {study_dir / 'best.yaml'}\n")
        (study_dir / "best.yaml").write_text(header + yaml.safe_dump(d, sort_keys=False, allow_unicode=True),
                                             encoding="utf-8")
        files["best_config"] = study_dir / "best.yaml"
    return files


def _plot(study, space: dict, metric: str, direction: str, imp: dict, path: Path) -> None:
    """Optimisation history (each trial and the best so far) and one slice per parameter (value drawn vs
    score): the two views that say whether more trials or another range would help."""
    from optuna.trial import TrialState

    from ..evaluation.plots import plt  # Agg backend set there
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    n = 1 + len(space)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False)
    ax = axes[0][0]
    xs, ys = [t.number for t in done], [t.value for t in done]
    ax.scatter(xs, ys, s=18, label="completed")
    if pruned:  # drawn at their last reported score
        px = [t.number for t in pruned if t.intermediate_values]
        py = [t.intermediate_values[max(t.intermediate_values)] for t in pruned if t.intermediate_values]
        ax.scatter(px, py, s=18, marker="x", color="grey", label="pruned (last eval)")
    best, run = [], None
    for y in ys:
        run = y if run is None else (max(run, y) if direction == "maximize" else min(run, y))
        best.append(run)
    ax.step(xs, best, where="post", color="C1", label="best so far")
    ax.set(title="Optimisation history", xlabel="trial", ylabel=f"validation {metric}")
    ax.xaxis.get_major_locator().set_params(integer=True)  # trial numbers, not 0.5 steps
    ax.legend(fontsize=7)
    for ax, key in zip(axes[0][1:], space):
        vals = [t.params.get(key) for t in done]
        if "choices" in space[key]:
            labels = [str(c) for c in space[key]["choices"]]
            ax.scatter([labels.index(str(v)) for v in vals], ys, s=18)
            ax.set_xticks(range(len(labels)), labels)
        else:
            ax.scatter(vals, ys, s=18)
            if space[key].get("log"):
                ax.set_xscale("log")
        ax.set(title=key + (f" (importance {imp[key]})" if key in imp else ""), xlabel=key)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_summary(res: TuneResult) -> str:
    lines = [f"study {res.study_name!r}: {res.finished} finished trials in {res.study_dir}"]
    if res.best_number is not None:
        lines.append(f"best: trial {res.best_number}, validation {res.metric} {res.best_value:.4f}  "
                     + "  ".join(f"{k}={v}" for k, v in res.best_params.items()))
    for what, path in res.files.items():
        lines.append(f"  {what}: {path}")
    return "\n".join(lines)
