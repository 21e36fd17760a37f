"""The `tune:` section of a config: a search space over config keys, checked before any trial runs.

Kept apart from tune.py so that validating a config never imports Optuna (every `tuneforge train` validates).

    tune:
      space:
        train.learning_rate: {low: 1.0e-5, high: 3.0e-4, log: true}   # float range, sampled on a log scale
        train.epochs: {low: 1, high: 4, step: 1}                       # 1.0, 2.0, 3.0 or 4.0
        train.batch_size: {choices: [16, 32]}                          # categorical
      metric: macro_f1
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from typing import Any, get_args, get_type_hints

from ..config import Config, _coerce, describe, register_check, validate
from ..errors import TuneforgeError
from ..tasks.base import find_task

SPEC_KEYS = ("low", "high", "log", "step", "choices")
# Keys a trial must not change: where it writes, and the search itself.
FORBIDDEN = ("output_dir", "config_path", "tune")


def flatten_space(space: dict, prefix: str = "") -> dict[str, dict]:
    """`{train.learning_rate: {...}}` and the nested `{train: {learning_rate: {...}}}` (what a command-line
    override `tune.space.train.learning_rate.low=1e-5` builds) are the same space."""
    out: dict[str, dict] = {}
    for k, v in space.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and not set(v) & set(SPEC_KEYS):
            out.update(flatten_space(v, key + "."))
        else:
            out[key] = v
    return out


def field_type(key: str) -> Any | None:
    """The declared type of the config field a dotted key names (Optional stripped), or None if it names
    no field (or a whole section)."""
    cls: Any = Config
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(cls) or part not in {f.name for f in dataclasses.fields(cls)}:
            return None
        typ = get_type_hints(cls)[part]
        if dataclasses.is_dataclass(typ):
            if i == len(parts) - 1:
                return None  # a section such as `train`
            cls = typ
        elif i < len(parts) - 1:
            return None
        else:
            inner = [a for a in get_args(typ) if a is not type(None)]
            return inner[0] if type(None) in get_args(typ) and inner else typ
    return None


def set_field(cfg, key: str, value: Any) -> None:
    """Set a dotted config field, coerced to its declared type the way a YAML value would be."""
    *path, name = key.split(".")
    node = cfg
    for p in path:
        node = getattr(node, p)
    cls = type(node) if node is not cfg else Config
    setattr(node, name, _coerce(value, get_type_hints(cls)[name], key))


def _leaf_keys() -> list[str]:
    return [k for k, _, _ in describe()]


@register_check("tune")
def check_tune(cfg, bad) -> None:
    """Every rule of the `tune:` section; `bad(key, what, fix)` raises the config's TuneforgeError."""
    t = cfg.tune
    if t.direction not in ("auto", "maximize", "minimize"):
        bad("tune.direction", f"is {t.direction!r}", "use auto, maximize or minimize")
    task = find_task(cfg.task)  # validation metrics the Trainer reports while training: what pruning sees
    metrics = (*task.validation_metrics, "loss") if task else ()  # every run reports its validation loss
    if t.metric is not None and t.metric not in metrics:
        bad("tune.metric", f"is {t.metric!r}, which {cfg.task} does not report on validation",
            f"use one of: {', '.join(metrics)}")
    if t.keep_runs not in ("best", "all"):
        bad("tune.keep_runs", f"is {t.keep_runs!r}", "use best or all")
    for key in ("startup_trials", "prune_after_trials", "prune_warmup_evals"):
        if getattr(t, key) < 0:
            bad(f"tune.{key}", f"is {getattr(t, key)}", "use 0 or a positive count")
    if not isinstance(t.space, dict):
        bad("tune.space", f"must be a mapping of config keys to ranges, got {t.space!r}",
            "write e.g. tune.space: {train.learning_rate: {low: 1.0e-5, high: 3.0e-4, log: true}}")
    for key, spec in flatten_space(t.space).items():
        _check_param(cfg, key, spec, bad)


def _check_param(cfg, key: str, spec: Any, bad) -> None:
    where = f"tune.space.{key}"
    if key.split(".")[0] in FORBIDDEN:
        bad(where, "cannot be searched", "search training and data settings; each trial gets its own output_dir")
    typ = field_type(key)
    if typ is None:
        close = difflib.get_close_matches(key, _leaf_keys(), n=1)
        bad(where, f"names no config field ({key!r})",
            (f"did you mean {close[0]}? " if close else "") + "run `tuneforge config` to list the keys")
    if not isinstance(spec, dict):
        bad(where, f"must be {{low, high}} or {{choices: [...]}}, got {spec!r}",
            "write e.g. {low: 1.0e-5, high: 3.0e-4, log: true} or {choices: [16, 32]}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], SPEC_KEYS, n=1)
        bad(where, f"has unknown key {unknown[0]!r}",
            (f"did you mean {close[0]}? " if close else "") + f"use {', '.join(SPEC_KEYS)}")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            bad(where, "mixes choices with a range", "give either {choices: [...]} or {low, high[, log][, step]}")
        ch = spec["choices"]
        if not isinstance(ch, list) or not ch:
            bad(where, f"choices must be a non-empty list, got {ch!r}", "write e.g. {choices: [16, 32]}")
        for c in ch:
            # Optuna stores categorical values as JSON scalars; a list (e.g. of EDA ops) cannot be one
            if c is not None and not isinstance(c, (bool, int, float, str)):
                bad(where, f"choice {c!r} is not a number, string or boolean", "search over scalar values only")
        if len({repr(c) for c in ch}) < len(ch):
            bad(where, f"repeats a choice in {ch}", "list each value once")
        for c in ch:
            _check_value(cfg, key, f"choice {c!r}", c, bad)
        return
    if "low" not in spec or "high" not in spec:
        bad(where, "needs both low and high (or choices)", "write e.g. {low: 1.0e-5, high: 3.0e-4}")
    if typ not in (int, float):
        bad(where, f"is a {getattr(typ, '__name__', typ)} field: a range needs a number",
            f"use {{choices: [...]}} for {key}")
    lo, hi, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    for name, v in (("low", lo), ("high", hi)) + ((("step", step),) if step is not None else ()):
        # YAML 1.1 reads `1e-5` (no dot) as a string: say so instead of "must be a number"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            bad(where, f"{name} {v!r} is not a number",
                "write numbers with a dot, e.g. 1.0e-5 (YAML reads 1e-5 as text)" if isinstance(v, str) else
                "give a number")
        if typ is int and not isinstance(v, int):
            bad(where, f"{name} is {v!r} but {key} is an integer", "give whole numbers")
    if not isinstance(log, bool):
        bad(where, f"log is {log!r}", "use true or false")
    if not lo < hi:
        bad(where, f"has low {lo} not below high {hi}", "give low < high (a fixed value belongs in the config)")
    if log and lo <= 0:
        bad(where, f"has log: true with low {lo}", "a log scale needs low > 0")
    if step is not None:
        if log:
            bad(where, "has both log and step", "Optuna samples a log range continuously: drop one of them")
        if step <= 0:
            bad(where, f"has step {step}", "use a positive step")
        n = (hi - lo) / step
        if abs(n - round(n)) > 1e-9:
            bad(where, f"range {lo}..{hi} is not a whole number of steps of {step}",
                f"make high - low a multiple of step, e.g. high: {lo + step * int(n)}")
    _check_value(cfg, key, f"low {lo!r}", lo, bad)
    _check_value(cfg, key, f"high {hi!r}", hi, bad)


def _check_value(cfg, key: str, label: str, value: Any, bad) -> None:
    """A value of the space must pass the same checks as a value written in the config."""
    trial = copy.deepcopy(cfg)
    trial.tune.space = {}  # no recursion: the trial's own space is not searched again
    try:
        set_field(trial, key, value)
        validate(trial)
    except TuneforgeError as e:
        bad(f"tune.space.{key}", f"{label} is not a valid value: {e.what}", e.fix)
