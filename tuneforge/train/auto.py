"""Training settings the config leaves to the data, chosen once the splits are read, and written down.

Each choice fills a field the user left unset (None, or "auto"), so the saved config.yaml shows what ran;
each also returns a Choice (the key, the value and why, with the counts it was decided on) that goes into
metrics.json (`train.auto_choices`), the model card and the console summary. A value the user set is never
changed.

Why these exist: a few hundred long, imbalanced reviews trained with fixed defaults stopped after 51
optimizer steps, early stopping having fired on a 60-row validation split, and predicted the majority class
for everything (macro-F1 0.26, below TF-IDF's 0.36); the same data with 10 epochs reached 0.53 (issue 17).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass

from ..config import Config

DEFAULT_EPOCHS = 3.0
IMBALANCE_RATIO = 3.0  # largest / smallest training class at or above which the loss is class-weighted
LENGTH_QUANTILE = 0.95
HEAD_TAIL_SHARE = 0.10  # of the training texts cut at max_length, from which auto keeps their ends too
LENGTH_FLOOR, LENGTH_STEP = 64, 32
# SetFit encodes every text about 2·R = 40 times (its sampled pairs), so its cost grows with length far faster
# than full tuning's: 111 spam mails at 512 tokens ran 40 minutes at 10.9 GB without finishing its pair phase on
# 2 cores. Sentence encoders are trained on short inputs (all-MiniLM-L6-v2 truncates at 256 word pieces), so a
# longer window buys SetFit little; the cap is recorded in the choice's reason.
SETFIT_LENGTH_CAP = 256
# Validation below these sizes gives a noisy score per evaluation: patience is doubled.
TINY_VALIDATION, TINY_VALIDATION_CLASS = 100, 5


@dataclass
class Choice:
    key: str
    value: object
    why: str

    def line(self) -> str:
        return f"{self.key} = {self.value}: {self.why}"


def steps_per_epoch(cfg: Config, n_train: int, world_size: int = 1) -> int:
    t = cfg.train
    return max(1, math.ceil(n_train / (t.batch_size * t.gradient_accumulation * world_size)))


def choose_epochs(cfg: Config, n_train: int, world_size: int = 1) -> Choice | None:
    t = cfg.train
    if t.epochs is not None:
        return None
    if t.method == "setfit":  # SetFit counts passes over its pairs (setfit.epochs); train.epochs is unused
        t.epochs = DEFAULT_EPOCHS
        return None
    per_epoch = steps_per_epoch(cfg, n_train, world_size)
    need = t.min_steps / per_epoch
    if need <= DEFAULT_EPOCHS:
        t.epochs = DEFAULT_EPOCHS
        return Choice("train.epochs", t.epochs, f"the default; {per_epoch} steps per epoch already reach "
                                                f"train.min_steps={t.min_steps}")
    t.epochs = float(math.ceil(need))
    return Choice("train.epochs", t.epochs, f"{n_train} training examples make only {per_epoch} steps per epoch; "
                                            f"{t.epochs:g} epochs reach train.min_steps={t.min_steps}")


def choose_max_length(cfg: Config, train_lengths: list[int], limit: int | None) -> Choice | None:
    t = cfg.train
    if t.max_length is not None or not train_lengths:
        if t.max_length is None:
            t.max_length = 128  # no texts to measure (images): the field is unused, keep the old default
        return None
    limit = limit if isinstance(limit, int) and 0 < limit <= 100_000 else 512
    capped_by = f"the backbone's limit of {limit}"
    if t.method == "setfit" and limit > SETFIT_LENGTH_CAP:
        limit, capped_by = SETFIT_LENGTH_CAP, (f"{SETFIT_LENGTH_CAP}, setfit's cap (it encodes each text ~40 times "
                                               f"in its pairs)")
    ordered = sorted(train_lengths)
    q = ordered[min(len(ordered) - 1, int(LENGTH_QUANTILE * len(ordered)))]
    chosen = min(limit, max(LENGTH_FLOOR, LENGTH_STEP * math.ceil(q / LENGTH_STEP)))
    t.max_length = chosen
    cut = sum(n > chosen for n in train_lengths)
    why = (f"{LENGTH_QUANTILE:.0%} of the {len(ordered)} training texts have at most {q} tokens; "
           f"{cut} ({cut / len(ordered):.1%}) are longer and truncated")
    if chosen == limit and q > limit:
        why += f" at {capped_by}"
    return Choice("train.max_length", chosen, why)


def choose_truncation(cfg: Config, task, train_lengths: list[int]) -> Choice | None:
    """head+tail when max_length cuts at least HEAD_TAIL_SHARE of the training texts of a whole-text classifier."""
    t = cfg.train
    if t.truncation != "auto":
        return None
    if not task.labels_whole_texts or not train_lengths:
        t.truncation = "head"  # tokens labelled one by one (NER) keep their positions; images have no tokens
        return None
    cut = sum(n > t.max_length for n in train_lengths)
    share = cut / len(train_lengths)
    t.truncation = "head+tail" if share >= HEAD_TAIL_SHARE else "head"
    if t.truncation == "head":
        return Choice("train.truncation", "head", f"{cut} of {len(train_lengths)} training texts ({share:.1%}) exceed "
                                                  f"max_length={t.max_length}, under {HEAD_TAIL_SHARE:.0%}")
    return Choice("train.truncation", "head+tail",
                  f"{cut} of {len(train_lengths)} training texts ({share:.1%}) exceed max_length={t.max_length}: "
                  f"each keeps its first quarter and its end (a review's verdict is often in its last lines)")


def choose_class_weight(cfg: Config, task, train_labels: list[str]) -> Choice | None:
    t = cfg.train
    if not task.single_label:
        if t.class_weight == "auto":
            t.class_weight = "none"  # NER's per-token loss is not weighted per class
        return None
    if t.class_weight != "auto":
        return None
    counts = Counter(train_labels)
    big, small = max(counts.values()), min(counts.values())
    ratio = big / small
    t.class_weight = "balanced" if ratio >= IMBALANCE_RATIO else "none"
    return Choice("train.class_weight", t.class_weight,
                  f"largest training class {big}, smallest {small} (ratio {ratio:.1f}; "
                  f"balanced from {IMBALANCE_RATIO:g}); the selection metric is macro-F1")


def choose_patience(cfg: Config, validation_labels: list[str]) -> Choice | None:
    t = cfg.train
    if not validation_labels or t.early_stopping_patience <= 0:
        return None
    counts = Counter(validation_labels)
    n, smallest = len(validation_labels), min(counts.values())
    if n >= TINY_VALIDATION and smallest >= TINY_VALIDATION_CLASS:
        return None
    t.early_stopping_patience *= 2
    return Choice("train.early_stopping_patience", t.early_stopping_patience,
                  f"the validation split is small ({n} examples, smallest class {smallest}): its score is noisy, "
                  f"so patience is doubled; early stopping also waits for train.min_steps={t.min_steps}")


def method_choice(cfg: Config, requested: str, train_labels: list[str], decoder: bool = False) -> Choice | None:
    """resolve_method (methods/setfit.py) decides; this records the counts it decided on."""
    if requested != "auto":
        return None
    if decoder:
        return Choice("train.method", cfg.train.method, f"{cfg.backbone} is a decoder: setfit tunes mean-pooled "
                                                         f"sentence embeddings, which a decoder does not make")
    if cfg.train.method == "auto":  # image-classification keeps it: the Trainer's full loop, or image.linear_probe
        return Choice("train.method", "auto", "full fine-tuning" + (" of the head alone (image.linear_probe)"
                                                                    if cfg.image.linear_probe else ""))
    if not train_labels:  # token-classification: setfit classifies whole texts, so full fine-tuning
        return Choice("train.method", cfg.train.method, f"{cfg.task}: setfit classifies whole texts only")
    counts = Counter(train_labels)
    return Choice("train.method", cfg.train.method,
                  f"{len(train_labels)} training examples, {len(counts)} classes, "
                  f"{len(train_labels) / len(counts):.0f} per class on average, smallest class {min(counts.values())}"
                  f" (setfit only for few examples per class on balanced data, below {IMBALANCE_RATIO:g}:1)")


def resolve_auto(cfg: Config, task, splits, lengths: dict, requested_method: str, limit: int | None,
                 world_size: int = 1, decoder: bool = False) -> list[dict]:
    """Fill every automatic training setting from the data; return the choices as metrics.json rows."""
    def labels_of(examples):  # a single-label task's classes; the choices below that count classes skip others
        return [e.label for e in examples] if task.single_label else []

    train_labels = labels_of(splits.train)
    choices = [method_choice(cfg, requested_method, train_labels, decoder),
               choose_max_length(cfg, lengths.get("train", []), limit),
               choose_truncation(cfg, task, lengths.get("train", [])),
               choose_epochs(cfg, len(splits.train), world_size),
               choose_class_weight(cfg, task, train_labels) if train_labels else None,
               choose_patience(cfg, labels_of(splits.validation)) if train_labels else None]
    if cfg.train.class_weight == "auto":
        cfg.train.class_weight = "none"
    return [asdict(c) for c in choices if c is not None]


def class_weights(cfg: Config, train_labels: list[str], labels: list[str]) -> list[float] | None:
    """sklearn's "balanced" weights, n / (classes x count), in label-id order; None when unweighted."""
    if cfg.train.class_weight != "balanced":
        return None
    counts = Counter(train_labels)
    n, k = len(train_labels), len(labels)
    return [n / (k * counts[l]) if counts.get(l) else 0.0 for l in labels]
