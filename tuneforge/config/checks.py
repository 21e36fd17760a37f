"""Cross-field rules of a config: `validate(cfg)` raises a TuneforgeError naming the key.

The fields config owns are checked here. A section owned by a higher layer (SetFit's and zero-shot's options, the
tune space, the backbone table, PII kinds, augmentation operations) registers its own rules with
`register_check`, from the module that owns it, the way a PEFT tuner registers with its config class: config
cannot import its owners without an import cycle. A section's rules therefore run once its owner is loaded. Every
command imports the owners it uses before it reads a config, and `train()`, `prepare()`, `tune()` and zero-shot's
`evaluate_config()` validate again on entry, so a config read before its owner was imported is still checked in
full before anything runs."""

from __future__ import annotations

import difflib
from typing import Callable

from ..errors import TuneforgeError
from .schema import (ADVERSARIAL, METHODS, POOLINGS, REFUSED_METHODS, TAG_SCHEMES, TASK_INPUTS, TASKS, Config,
                     TrainConfig)


Bad = Callable[[str, str, str], None]  # bad(key, what, fix) raises the config's TuneforgeError
SECTION_CHECKS: dict[str, Callable[[Config, Bad], None]] = {}


def register_check(section: str):
    """Decorator: `fn(cfg, bad)` checks `section` whenever a config is validated (see the module docstring)."""
    def deco(fn):
        SECTION_CHECKS[section] = fn
        return fn
    return deco


def unknown_name(bad: Bad, key: str, what: str, name: str, known) -> None:
    """`name` is not in `known`: say so, with the closest known name."""
    close = difflib.get_close_matches(name, list(known), n=1)
    bad(key, f"has unknown {what} {name!r}", (f"did you mean {close[0]}? " if close else "") +
        f"use any of: {', '.join(known)}")


def validate(cfg: Config) -> None:
    """Config's own fields here, then every registered section's rules."""
    def bad(key, what, fix):
        raise TuneforgeError(f"`{key}` {what}", where=cfg.config_path or "config", fix=fix)

    if cfg.task not in TASKS:
        bad("task", f"is {cfg.task!r}", f"use one of: {', '.join(TASKS)}")
    if not cfg.data.train:
        bad("data.train", "is not set", "point data.train at your labeled file")
    if cfg.data.tag_scheme not in TAG_SCHEMES:
        bad("data.tag_scheme", f"is {cfg.data.tag_scheme!r}", f"use one of: {', '.join(TAG_SCHEMES)}")
    if cfg.data.bad_rows not in ("error", "skip"):
        bad("data.bad_rows", f"is {cfg.data.bad_rows!r}", "use error or skip")
    g = cfg.generate
    if g.max_new_tokens < 1 or g.eval_limit < 0:
        bad("generate.max_new_tokens" if g.max_new_tokens < 1 else "generate.eval_limit",
            f"is {g.max_new_tokens if g.max_new_tokens < 1 else g.eval_limit}", "use a positive number")
    if g.temperature < 0 or not 0 < g.top_p <= 1:
        bad("generate.temperature" if g.temperature < 0 else "generate.top_p",
            f"is {g.temperature if g.temperature < 0 else g.top_p}",
            "temperature 0 (greedy) or above; top_p in (0, 1]")
    if not cfg.data.label_separator.strip():
        bad("data.label_separator", f"is {cfg.data.label_separator!r}", "use a visible separator such as | or ;")
    if cfg.data.format not in (None, "csv", "tsv", "jsonl", "conll"):
        bad("data.format", f"is {cfg.data.format!r}", "use csv, tsv, jsonl or conll (or leave it out)")
    s = cfg.data.split
    if len(s) != 3 or any(x < 0 for x in s) or abs(sum(s) - 1) > 1e-6 or s[0] <= 0:
        bad("data.split", f"is {s}", "give three non-negative shares that sum to 1, e.g. [0.8, 0.1, 0.1]")
    t = cfg.train
    for key, val in (("epochs", t.epochs), ("batch_size", t.batch_size), ("eval_batch_size", t.eval_batch_size),
                     ("gradient_accumulation", t.gradient_accumulation), ("max_length", t.max_length),
                     ("evals_per_epoch", t.evals_per_epoch)):
        if val is not None and val <= 0:  # None: chosen from the data (train/auto.py)
            bad(f"train.{key}", f"must be positive, got {val}", f"set train.{key} to a positive number")
    for key, val in (("learning_rate", t.learning_rate), ("head_learning_rate", t.head_learning_rate)):
        if val is not None and not (0 < val < 1):
            bad(f"train.{key}", f"is {val}", "use a small positive rate such as 5e-5")
    if not 0 <= t.warmup_ratio < 1:
        bad("train.warmup_ratio", f"is {t.warmup_ratio}", "use a share in [0, 1), e.g. 0.06")
    if t.dropout is not None and not 0 <= t.dropout < 1:
        bad("train.dropout", f"is {t.dropout}", "use a probability in [0, 1)")
    if t.num_layers is not None and t.num_layers < 1:
        bad("train.num_layers", f"is {t.num_layers}", "keep at least one layer, or leave it unset")
    if t.min_steps < 0:
        bad("train.min_steps", f"is {t.min_steps}", "use 0 (no floor) or a positive number of steps, e.g. 200")
    if t.class_weight not in ("auto", "none", "balanced"):
        bad("train.class_weight", f"is {t.class_weight!r}", "use auto, none or balanced")
    if t.decision_bias not in ("auto", "none"):
        bad("train.decision_bias", f"is {t.decision_bias!r}", "use auto or none")
    if t.truncation not in ("auto", "head", "head+tail"):
        bad("train.truncation", f"is {t.truncation!r}", "use auto, head or head+tail")
    if t.bf16 not in ("auto", "true", "false"):
        bad("train.bf16", f"is {t.bf16!r}", "use auto, true or false")
    if t.method not in METHODS:
        bad("train.method", f"is {t.method!r}", f"use one of: {', '.join(METHODS)}")
    if t.pooling not in POOLINGS:
        bad("train.pooling", f"is {t.pooling!r}", f"use one of: {', '.join(POOLINGS)}")
    _validate_adversarial(t, bad)
    _validate_peft(cfg, bad)
    if t.early_stopping_patience < 0:
        bad("train.early_stopping_patience", "is negative", "use 0 to disable, or a positive count")
    if t.max_length is not None and t.max_length > 8192:
        bad("train.max_length", f"is {t.max_length}", "use at most the backbone's maximum (often 512)")
    _validate_redact_augment(cfg, bad)
    _validate_image(cfg, bad)
    for key, val in (("data.train_limit", cfg.data.train_limit), ("data.test_limit", cfg.data.test_limit),
                     ("data.validation_limit", cfg.data.validation_limit)):
        if val is not None and val <= 0:
            bad(key, f"is {val}", "use a positive count or leave it unset")
    for check in SECTION_CHECKS.values():
        check(cfg, bad)


def _validate_peft(cfg: Config, bad) -> None:
    p, method = cfg.peft, cfg.train.method
    if method in REFUSED_METHODS:
        # Their virtual tokens are extra inputs, not weights: nothing can merge them into the plain model that
        # predict, evaluate, export and serve load, so those would silently answer without them. (PEFT's
        # prompt tuning also returns logits for the virtual tokens, misaligned with NER labels.)
        bad("train.method", f"is {method!r}, whose virtual tokens cannot be merged into the saved model",
            "use train.method=lora (or ia3): the adapter is merged into ordinary weights that every "
            "tuneforge command loads")
    if p.r < 1:
        bad("peft.r", f"is {p.r}", "use a rank of at least 1 (8 or 16 are usual)")
    if not 0 < p.alpha <= 1024:
        bad("peft.alpha", f"is {p.alpha}", "use a positive scale, usually 2 x peft.r")
    if not 0 <= p.dropout < 1:
        bad("peft.dropout", f"is {p.dropout}", "use a probability in [0, 1), e.g. 0.1")
    if p.target_modules is not None and (not p.target_modules or not all(m.strip() for m in p.target_modules)):
        bad("peft.target_modules", f"is {p.target_modules}",
            "name at least one layer, e.g. [query, value], or leave it unset for the backbone's default")


def _validate_adversarial(t: TrainConfig, bad) -> None:
    if t.adversarial not in ADVERSARIAL:
        bad("train.adversarial", f"is {t.adversarial!r}", f"use one of: {', '.join(ADVERSARIAL)}")
    if not 0 < t.adversarial_epsilon <= 100:
        bad("train.adversarial_epsilon", f"is {t.adversarial_epsilon}", "use a positive L2 norm such as 1.0")
    if t.adversarial_steps < 1:
        bad("train.adversarial_steps", f"is {t.adversarial_steps}", "use at least 1 PGD step (3 is common)")
    if t.adversarial_alpha is not None and not 0 < t.adversarial_alpha <= t.adversarial_epsilon:
        bad("train.adversarial_alpha", f"is {t.adversarial_alpha}",
            f"use a step size in (0, adversarial_epsilon={t.adversarial_epsilon}], or leave it unset")
    if t.adversarial != "none" and t.method == "setfit":
        bad("train.adversarial", "is not supported with train.method=setfit",
            "set train.adversarial=none, or use train.method=full (or a PEFT method)")


def _validate_image(cfg: Config, bad) -> None:
    im, is_image = cfg.image, TASK_INPUTS.get(cfg.task) == "images"
    if not is_image:
        return
    if not 32 <= im.size <= 1024:
        bad("image.size", f"is {im.size}", "use an input size between 32 and 1024 pixels (224 is the backbone's own)")
    if not 0.05 <= im.crop_min_scale <= 1:
        bad("image.crop_min_scale", f"is {im.crop_min_scale}", "use an area share in [0.05, 1], e.g. 0.6")
    if cfg.train.method not in ("auto", "full"):
        bad("train.method", f"is {cfg.train.method!r}, which image-classification does not support",
            "use train.method=full, or image.linear_probe=true to train only the head")
    if cfg.train.method == "full" and im.linear_probe:
        bad("image.linear_probe", "is true but train.method is full (fine-tune every weight)",
            "choose one: train.method=full, or image.linear_probe=true with train.method=auto")
    if cfg.data.redact or cfg.data.augment.per_example:
        bad("data.redact" if cfg.data.redact else "data.augment.per_example", "applies to text, not images",
            "remove it; image augmentation is image.augment")
    if cfg.train.adversarial != "none":
        bad("train.adversarial", "perturbs word embeddings and does not apply to images", "set train.adversarial=none")


def _validate_redact_augment(cfg: Config, bad) -> None:
    a = cfg.data.augment  # the kinds and operation names are checked by their owners (data/redact.py, augment.py)
    if a.per_example < 0:
        bad("data.augment.per_example", f"is {a.per_example}", "use 0 (off) or a positive number of copies")
    if not 0 < a.prob <= 1:
        bad("data.augment.prob", f"is {a.prob}", "use a probability in (0, 1]; EDA uses 0.05-0.1")
    if a.per_example and not a.ops:
        bad("data.augment.ops", "is empty", "name at least one of: synonym, insert, swap, delete")
    if a.per_example and TASK_INPUTS.get(cfg.task) == "tokens":
        bad("data.augment.per_example", f"is not supported for {cfg.task}",
            "set data.augment.per_example=0: swapping, deleting or inserting words would move them away from "
            "their entity tags")
    if a.per_example and TASK_INPUTS.get(cfg.task) == "chat":
        bad("data.augment.per_example", f"is not supported for {cfg.task}",
            "set data.augment.per_example=0: word-level noise in a question or answer teaches the model to write it")
