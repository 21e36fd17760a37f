"""`tuneforge train`: config → data → task → Trainer → run directory.

The run directory is the contract with every later stage (evaluate, predict, export, serve): they
read only it. `metrics.json` is written last, so its presence marks a finished run.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from transformers import AutoConfig, set_seed

from ..backbones.registry import resolve_backbone
from ..config import Config, validate
from ..data.report import build_report
from ..data.splits import load_splits
from ..errors import TuneforgeError
from ..evaluation.outputs import write_run
from ..methods.registry import method_of, peak_rss_mb
from ..methods.setfit import is_decoder, resolve_method
from ..rundir import METRICS_FILE
from ..tasks.base import Task, get_task, use_bf16
from ..writing import check_output_dir
from .auto import class_weights, resolve_auto
from .console import QUIET, resolve_verbosity, transformers_output
from .decision_bias import apply_decision_bias
from .trainer import build_trainer

CHECKPOINTS = "checkpoints"


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest checkpoint that was written to the end. A kill during a save leaves a directory
    without trainer_state.json (the Trainer writes it last); resuming from that one crashed, so it is
    removed and the one before it is used."""
    found = sorted((p for p in ckpt_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for p in found:
        if (p / "trainer_state.json").is_file():
            return str(p)
        if int(os.environ.get("RANK", "0")) == 0:
            shutil.rmtree(p, ignore_errors=True)  # half-written: its step is redone from the last good one
    return None


def record_choice(report: dict, choice) -> None:
    if choice is not None:
        report["auto_choices"].append(asdict(choice))


def resolve_defaults(cfg: Config, task: Task, backbone_path: str) -> None:
    """Fill every 'task default' (None) field, so the saved config shows what was used."""
    t, d = cfg.train, task.defaults
    hf = AutoConfig.from_pretrained(backbone_path)
    if t.learning_rate is None:  # LoRA & co. want a larger body rate, SetFit a smaller one
        t.learning_rate = method_of(cfg).default_learning_rate(d.learning_rate)
    if t.head_learning_rate is None:
        t.head_learning_rate = d.head_learning_rate
    n_layers = getattr(hf, "num_hidden_layers", None)
    if t.num_layers is None and d.num_layers is not None and n_layers:
        t.num_layers = min(d.num_layers, n_layers)
    if t.num_layers is not None and n_layers and t.num_layers > n_layers:
        raise TuneforgeError(f"`train.num_layers` is {t.num_layers} but {cfg.backbone} has {n_layers} layers",
                             where=cfg.config_path or "config", fix=f"use at most {n_layers}")
    if t.dropout is None:
        t.dropout = d.dropout
    if t.freeze_embeddings is None:
        t.freeze_embeddings = d.freeze_embeddings
    if t.freeze_embeddings is None:
        # A 250k-row embedding matrix holds most of the parameters and most of the optimizer's work;
        # freezing it roughly doubles step speed (ASSETS.md), and fine-tuning rarely needs it.
        t.freeze_embeddings = getattr(hf, "vocab_size", 0) > 100_000


def prepare(cfg: Config, progress: bool = True):
    """Everything up to the model: data read and checked (all data errors happen here, before any
    file is written), backbone resolved, defaults filled, features built."""
    validate(cfg)  # again: sections whose owners were imported after the config was read (config/checks.py)
    task = get_task(cfg.task)
    splits = load_splits(cfg)
    requested_method = cfg.train.method
    backbone_path = resolve_backbone(cfg.backbone)
    resolve_method(cfg, splits.train, backbone_path)  # train.method auto -> full, or setfit below a per-class count
    resolve_defaults(cfg, task, backbone_path)
    tokenizer = task.load_processor(backbone_path)  # a tokenizer; for images an ImageProcessor
    labels = task.labels(splits.train)
    lengths = {name: task.length_of(tokenizer, ex) for name, ex in splits.items()}
    # epochs, max_length, class weighting, patience: from the data where the config left them to auto
    choices = resolve_auto(cfg, task, splits, lengths, requested_method, getattr(tokenizer, "model_max_length", None),
                           int(os.environ.get("WORLD_SIZE", "1")), decoder=is_decoder(backbone_path))
    task.configure_processor(tokenizer, cfg)  # now that train.truncation is resolved
    report = build_report(splits, lengths, cfg.train.max_length)
    report["auto_choices"] = choices
    return task, splits, backbone_path, tokenizer, labels, report


def train(cfg: Config, progress: bool = True, overwrite: bool = False, callbacks=(), on_trainer=None,
          verbosity: str | None = None) -> Path:
    """`callbacks`: extra transformers TrainerCallbacks (tuneforge.methods.tune reports each validation
    score to Optuna through one, and prunes by raising from it). `on_trainer(trainer, splits, labels)`:
    a method's last word before training (tuneforge.methods.distill attaches cached teacher logits).
    `progress`: progress bars; `verbosity`: "quiet", "normal" or "verbose" (train/console.py), by default
    "normal" with progress and "quiet" without."""
    verbosity = resolve_verbosity(progress, verbosity)
    with transformers_output(verbosity):  # loading reports and weight bars silenced for the whole run
        return _train(cfg, progress and verbosity != QUIET, overwrite, callbacks, on_trainer, verbosity)


def leave_process_group() -> None:
    """Each process of a multi-process run calls this once, when its part is done (the writer after writing).
    A process that exits with the gloo group still alive can abort in interpreter finalisation ("terminate
    called without an active exception", SIGABRT): gloo's worker threads outlive Python. No barrier: the
    writer's test evaluation may take longer than the group's timeout, and nothing after training is
    collective."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _train(cfg: Config, progress: bool, overwrite: bool, callbacks, on_trainer, verbosity: str) -> Path:
    out = Path(cfg.output_dir)
    # Before any data is read or model trained (SetFit included): an output_dir that is a file, under a
    # file, or not writable fails now, not after minutes of training.
    check_output_dir(out, "output_dir")
    existing = [p.name for p in out.iterdir()] if out.is_dir() else []
    if existing and not overwrite:
        if METRICS_FILE in existing:
            raise TuneforgeError(f"{out} already holds a finished run", where="output_dir",
                                 fix="choose another output_dir, or pass --overwrite to replace it")
        if existing != [CHECKPOINTS]:  # only an interrupted run's checkpoints may be resumed into
            raise TuneforgeError(f"{out} is not empty and is not an interrupted tuneforge run", where="output_dir",
                                 fix="choose a new or empty output_dir, or pass --overwrite")
    task, splits, backbone_path, tokenizer, labels, report = prepare(cfg, progress)
    if overwrite and out.is_dir() and int(os.environ.get("RANK", "0")) == 0:
        # Only now, with the data and config known to be good: the old run goes, so a crash later can
        # never leave old metrics beside new weights.
        shutil.rmtree(out)
    set_seed(cfg.train.seed)  # one seed: head initialisation, dropout, shuffling
    bf16 = use_bf16(cfg)
    max_len = cfg.train.max_length
    train_feats = task.encode(tokenizer, splits.train, labels, max_len)
    val_feats = task.encode(tokenizer, splits.validation, labels, max_len)
    model, fresh = task.build_model(backbone_path, labels, cfg)
    method = method_of(cfg)
    if method.fit is not None:  # its own loop instead of the Trainer (SetFit: contrastive pairs + a light head)
        fitted = method.fit(cfg, task, model, tokenizer, labels, splits, bf16, progress)
        if fitted is not None:  # None: not the process that writes
            record_choice(report, apply_decision_bias(cfg, task, fitted.model, tokenizer, labels, splits.validation, bf16))
            write_run(out, cfg, task, fitted.model, tokenizer, labels, splits, report,
                      {**fitted.train_metrics, "method_note": method.card_note(cfg)}, fitted.history, bf16, progress)
        return out
    if method.wrap is not None:  # PEFT: frozen body + adapter; the head still trains
        model, fresh = method.wrap(model, fresh, cfg)
    # counted now: merging an adapter below leaves nothing trainable
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    ckpt_dir = out / CHECKPOINTS
    world = int(os.environ.get("WORLD_SIZE", "1"))
    weights = class_weights(cfg, [getattr(e, "label", None) for e in splits.train], labels)
    trainer = build_trainer(cfg, model, tokenizer, train_feats, val_feats, task.collator(tokenizer),
                            task.compute_metrics(labels), task.preprocess_logits, fresh,
                            cfg.train.head_learning_rate, task.metric_for_best, str(ckpt_dir), bf16,
                            world_size=world, progress=progress, callbacks=callbacks, verbosity=verbosity,
                            class_weights=weights, greater_is_better=task.greater_is_better,
                            length_buckets=task.length_buckets)
    if on_trainer is not None:
        on_trainer(trainer, splits, labels)
    resume = last_complete_checkpoint(ckpt_dir) if cfg.train.resume and ckpt_dir.is_dir() else None
    if resume and trainer.is_world_process_zero() and verbosity != "quiet":  # --quiet: the summary only
        print(f"resuming from {resume}")
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    runtime = time.perf_counter() - t0
    if not trainer.is_world_process_zero():
        return out  # one process writes the run directory
    # before PEFT's finish: the offsets go into the trained head that both RUN/adapter/ and the merged weights save
    record_choice(report, apply_decision_bias(cfg, task, trainer.model, tokenizer, labels, splits.validation, bf16))
    if method.finish is not None:  # PEFT: RUN/adapter/ + the merged model as the run's ordinary weights
        model = trainer.model = method.finish(trainer.model, out)
    eval_s = sum(h.get("eval_runtime", 0.0) for h in trainer.state.log_history)
    seen = result.metrics.get("train_samples_per_second", 0.0) * result.metrics.get("train_runtime", 0.0)
    train_metrics = {
        # Wall-clock throughput of the whole train() call, validation passes included ...
        "samples_per_second": round(result.metrics.get("train_samples_per_second", 0.0), 3),
        # ... and of the optimisation steps alone (validation time subtracted).
        "train_only_samples_per_second": round(seen / max(1e-9, result.metrics.get("train_runtime", 0.0) - eval_s), 3),
        "validation_s": round(eval_s, 2),
        "runtime_s": round(runtime, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0, 3),
        "best_checkpoint_metric": trainer.state.best_metric,
        "bf16": bf16,
        "processes": trainer.args.world_size,
        "resumed_from": resume,
        "method": cfg.train.method,
        "method_note": method.card_note(cfg),
        "trainable_parameters": n_trainable,
        "total_parameters": sum(p.numel() for p in model.parameters()),
        "trainable_share": round(n_trainable / max(1, sum(p.numel() for p in model.parameters())), 6),
    }
    write_run(out, cfg, task, trainer.model, tokenizer, labels, splits, report, train_metrics,
              trainer.state.log_history, bf16, progress)
    shutil.rmtree(ckpt_dir, ignore_errors=True)  # finished: the best weights are saved above
    return out
