"""What `tuneforge train` prints while it trains, at three verbosities.

- "normal": step progress bars and one line per validation pass,
  `epoch 1.00  step 50  train loss 0.6925  val loss 0.6100  val macro_f1 0.7421  (best)`.
- "quiet": nothing while training; the caller prints its summary at the end.
- "verbose": the Trainer's raw log dicts and transformers' own logging, untouched, for debugging.

In "normal" and "quiet" transformers' loading reports (the MISSING table for the head that tuneforge
initialises on purpose) and its weight loading/saving bars are silenced for the duration of the command.
"""

from __future__ import annotations

import contextlib
import math

from tqdm.auto import tqdm
from transformers import PrinterCallback, ProgressCallback, TrainerCallback

QUIET, NORMAL, VERBOSE = "quiet", "normal", "verbose"
LEVELS = (QUIET, NORMAL, VERBOSE)


def resolve_verbosity(progress: bool = True, verbosity: str | None = None) -> str:
    """`verbosity` when given; else what `progress` alone meant before there was a verbosity: bars and
    output (normal) or none (quiet)."""
    if verbosity is None:
        return NORMAL if progress else QUIET
    if verbosity not in LEVELS:
        raise ValueError(f"verbosity must be one of {', '.join(LEVELS)}, not {verbosity!r}")
    return verbosity


@contextlib.contextmanager
def transformers_output(verbosity: str):
    """Silence transformers' warnings and its own progress bars unless verbose; put them back after, so a
    library caller (or the next test) finds transformers as it left it."""
    from transformers.utils import logging as hf_logging
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    if verbosity == VERBOSE:  # transformers' own warnings and bars, even if an earlier caller silenced them
        hf_logging.set_verbosity(min(level, hf_logging.WARNING))
        hf_logging.enable_progress_bar()
    else:
        hf_logging.set_verbosity_error()  # errors still reach the user
        hf_logging.disable_progress_bar()  # "Loading weights", "Writing model shards" on every checkpoint
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()


class BarsOnlyProgressCallback(ProgressCallback):
    """The Trainer's step and evaluation bars without the raw log dicts it writes under them."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


class EvalLineCallback(TrainerCallback):
    """One line per validation pass, on the first process only (under `accelerate launch` every process
    runs the callbacks)."""

    def __init__(self, metric: str):
        self.metric = metric.removeprefix("eval_")
        self.losses: list[float] = []  # training losses logged since the last validation pass

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        losses, self.losses = self.losses, []
        if not state.is_world_process_zero or not metrics:
            return
        parts = [f"epoch {state.epoch or 0:.2f}", f"step {state.global_step}"]
        if losses:  # none when logging_steps is longer than the evaluation interval
            parts.append(f"train loss {sum(losses) / len(losses):.4f}")
        if "eval_loss" in metrics:
            parts.append(f"val loss {metrics['eval_loss']:.4f}")
        value = metrics.get(f"eval_{self.metric}")
        if value is not None:
            parts.append(f"val {self.metric} {value:.4f}")
            # The Trainer updates best_metric only after this callback, with a strict comparison: the same here.
            best = state.best_metric
            if best is None:
                best = -math.inf if args.greater_is_better else math.inf
            if (value > best) if args.greater_is_better else (value < best):
                parts.append("(best)")
        tqdm.write("  ".join(parts))  # above the progress bar instead of through it


def attach(trainer, verbosity: str, metric: str) -> None:
    """Replace the Trainer's own printing (ProgressCallback's dicts under the bar, or PrinterCallback's
    print() when bars are off) according to `verbosity`."""
    if verbosity == VERBOSE:
        return  # the Trainer's raw dicts are what verbose is for
    had_bars = any(type(cb) is ProgressCallback for cb in trainer.callback_handler.callbacks)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if had_bars:  # only where disable_tqdm is off: quiet already turned it on
        trainer.add_callback(BarsOnlyProgressCallback())
    if verbosity == NORMAL:
        trainer.add_callback(EvalLineCallback(metric))
