"""Training methods as registered specs: what `train.method` names, and the phases each one adds to a run.

A method registers once, in its own module, the way PEFT registers a tuner together with its config class
(`register_peft_method`): its name, a line for users, the tasks it trains, its default body learning rate and
its phases. `tuneforge.train.run` asks the spec instead of testing the method's name, so a new method is one
module plus one `register_method(...)` call (and its name in `config.METHODS`, the schema's list, which
tests/methods/test_registry.py keeps in agreement with this registry).

Phases, in the order a run meets them (each optional):
- `wrap(model, fresh, cfg) -> (model, fresh)`: before the Trainer (PEFT: freeze the body, add the adapter);
- `finish(model, out) -> model`: after training, before the run directory is written (PEFT: save the
  adapter, merge it into ordinary weights);
- `fit(cfg, task, model, tokenizer, labels, splits, bf16, progress) -> Fitted`: the method's own loop
  instead of the Trainer (SetFit). It returns the trained model and its numbers; it writes no files: the
  run directory has one writer (tuneforge.evaluation.outputs.write_run), called by the train layer.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from typing import Callable

from ..config import Config
from ..errors import TuneforgeError
from ..tasks.base import Task, find_task


def peak_rss_mb() -> float:
    """The process's peak resident memory, for a run's train metrics (full tuning's and a method's own loop's)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@dataclass
class Fitted:
    """What a method's own loop returns: the model to save, its train metrics and its loss history."""
    model: object
    train_metrics: dict
    history: list = field(default_factory=list)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    summary: str
    # Which tasks it trains, asked of the task's spec (tuneforge.tasks) rather than its name; None: every task.
    takes: Callable[[Task], bool] | None
    # The body's learning rate when train.learning_rate is unset; None: the task's default.
    learning_rate: float | None = None
    wrap: Callable | None = None
    finish: Callable | None = None
    fit: Callable | None = None
    # The model card's words for a run trained with it ("" for none); gets the resolved config.
    describe: Callable[[Config], str] | None = None

    def trains(self, task: str) -> bool:
        spec = find_task(task)
        return spec is not None and (self.takes is None or self.takes(spec))

    def default_learning_rate(self, task_default: float) -> float:
        return self.learning_rate if self.learning_rate is not None else task_default

    def card_note(self, cfg: Config) -> str:
        return self.describe(cfg) if self.describe is not None else ""


METHODS: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    if spec.name in METHODS:
        raise ValueError(f"method {spec.name!r} is already registered")  # a programming error, not a user's
    METHODS[spec.name] = spec
    return spec


def get_method(name: str, task: str | None = None) -> MethodSpec:
    """The spec of a resolved method (never "auto"); a TuneforgeError naming train.method otherwise."""
    spec = METHODS.get(name)
    if spec is None:
        raise TuneforgeError(f"`train.method` is {name!r}, which no registered method trains",
                             where="train.method", fix=f"use one of: {', '.join(sorted(METHODS))}")
    if task is not None and not spec.trains(task):
        able = sorted(n for n, s in METHODS.items() if s.trains(task))
        raise TuneforgeError(f"`train.method` is {name!r}, which does not train {task}", where="train.method",
                             fix=f"use one of: {', '.join(able)}")
    return spec


def method_of(cfg: Config) -> MethodSpec:
    """The spec of the method a resolved config trains with. Only image-classification keeps `auto` past
    resolve_method: it means the Trainer's full loop there, and its task freezes the body itself under
    image.linear_probe."""
    return get_method("full" if cfg.train.method == "auto" else cfg.train.method, cfg.task)


register_method(MethodSpec(
    name="full", summary="fine-tunes every weight of the backbone and the new head with the Trainer", takes=None))
