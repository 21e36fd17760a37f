"""From the config's files to train/validation/test examples: read, deduplicate, split, check labels.

One file is split 80/10/10 (configurable), stratified by label for classification, with the run's
seed. Given train and test but no validation, validation is carved out of train. Exact duplicate
rows within train are dropped (counted); rows of validation/test whose text also appears in train
are kept but reported as overlap, because silently changing a user's test set hides the problem.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.model_selection import train_test_split

from ..config import TASK_INPUTS, Config
from ..errors import TuneforgeError
from .augment import augment_examples  # also registers the data.augment.ops check (config/checks.py)
from .chat import ChatExample, read_chat
from .conll import read_conll
from .readers import LabelSetExample, ReadStats, TextExample, TokenExample, label_sets, read_classification
from .redact import redact_examples  # also registers the data.redact check

SPLITS = ("train", "validation", "test")


@dataclass
class Splits:
    train: list
    validation: list
    test: list
    stats: dict[str, ReadStats] = field(default_factory=dict)  # per input file
    dropped: Counter = field(default_factory=Counter)  # dropped while splitting/cleaning
    notes: list[str] = field(default_factory=list)
    redacted: Counter = field(default_factory=Counter)  # PII replaced, per type (data.redact)
    augmented: Counter = field(default_factory=Counter)  # augmented train copies, per operation (data.augment)

    def items(self):
        return ((name, getattr(self, name)) for name in SPLITS)


def key_of(ex) -> str:
    """What makes two examples the same input (a chat: its last question)."""
    return "\u0001".join(ex.tokens) if isinstance(ex, TokenExample) else ex.text


def read_file(cfg: Config, path: str) -> tuple[list, ReadStats]:
    """One labeled file as the config reads it; with data.redact its texts come back redacted (counts in
    the stats): training's splits and `tuneforge evaluate --data` both read through here."""
    skip = cfg.data.bad_rows == "skip"
    kind = TASK_INPUTS[cfg.task]
    if kind == "images":  # a folder per class, a (path, label) table, or IDX files
        from .images import read_images  # here: text runs never load the image stack (Pillow and its decoders)
        return read_images(path, cfg.image.size, cfg.data.format, cfg.image.path_column, cfg.data.label_column,
                           cfg.image.class_names, cfg.data.encoding, skip_bad=skip)
    if kind == "chat":
        examples, stats = read_chat(Path(path), cfg.data.format, cfg.data.text_column, cfg.data.label_column,
                                    cfg.data.encoding, skip_bad=skip)
    elif kind == "tokens":
        examples, stats = read_conll(Path(path), cfg.data.tag_scheme, cfg.data.encoding, skip_bad=skip)
    else:
        sets = kind == "text-multilabel"
        examples, stats = read_classification(Path(path), cfg.data.format, cfg.data.text_column,
                                              cfg.data.label_column, cfg.data.encoding, skip_bad=skip,
                                              list_separator=cfg.data.label_separator if sets else None)
        if sets:
            examples = label_sets(examples, cfg.data.label_separator, stats, skip)
    if cfg.data.redact:
        examples, stats.redacted = redact_examples(examples, cfg.data.redact)
    return examples, stats


def _stratify(examples: list, seed: int) -> list | None:
    """Stratify on the label when every class has at least two members; NER and tiny classes can't. A label set
    stratifies on its rarest label (its combinations are mostly unique): every label keeps its share as nearly as
    a single key allows."""
    if not examples or not isinstance(examples[0], TextExample):
        return None
    if isinstance(examples[0], LabelSetExample):
        counts = labels_in(examples)
        labels = [min(e.labels, key=lambda l: (counts[l], l)) for e in examples]
    else:
        labels = [e.label for e in examples]
    return labels if min(Counter(labels).values()) >= 2 else None


def _split(examples: list, share: float, seed: int) -> tuple[list, list]:
    if share <= 0 or len(examples) < 2:
        return examples, []
    n_out = max(1, round(len(examples) * share))
    if n_out >= len(examples):  # share 1.0 (e.g. split [0.9, 0, 0.1]: all of the rest is test)
        return [], list(examples)
    strat = _stratify(examples, seed)
    if strat is not None and n_out < len(set(strat)):
        strat = None  # fewer held-out rows than classes: stratification is impossible
    try:
        return train_test_split(examples, test_size=n_out, random_state=seed, stratify=strat, shuffle=True)
    except ValueError:
        return train_test_split(examples, test_size=n_out, random_state=seed, shuffle=True)


def _dedupe_train(examples: list, dropped: Counter) -> list:
    """Drop exact repeats; drop every copy of a text labeled two different ways (it teaches noise). A chat is
    dropped only as an exact repeat: one question may have several good answers."""
    if examples and isinstance(examples[0], ChatExample):
        seen_chats: set[str] = set()
        out = []
        for e in examples:
            key = json.dumps(e.messages, sort_keys=True)
            if key in seen_chats:
                dropped["duplicate row"] += 1
                continue
            seen_chats.add(key)
            out.append(e)
        return out
    if not examples or not isinstance(examples[0], TextExample):
        return examples
    labels_by_text: dict[str, set] = {}
    for e in examples:
        labels_by_text.setdefault(e.text, set()).add(e.label)
    seen, out = set(), []
    for e in examples:
        if len(labels_by_text[e.text]) > 1:
            dropped["text with conflicting labels"] += 1
            continue
        if e.text in seen:
            dropped["duplicate row"] += 1
            continue
        seen.add(e.text)
        out.append(e)
    return out


def _sample(examples: list, limit: int | None, seed: int) -> list:
    if limit is None or limit >= len(examples):
        return examples
    strat = _stratify(examples, seed)
    if strat is not None and limit >= len(set(strat)):
        try:
            kept, _ = train_test_split(examples, train_size=limit, random_state=seed, stratify=strat)
            return kept
        except ValueError:
            pass
    return random.Random(seed).sample(examples, limit)


def load_splits(cfg: Config) -> Splits:
    d, seed = cfg.data, cfg.train.seed
    stats: dict[str, ReadStats] = {}
    read = {}
    redacted: Counter = Counter()
    for name in SPLITS:
        path = getattr(d, name)
        if path:  # read_file redacts (data.redact) before dedup and split: texts that differ only in a
            read[name], stats[path] = read_file(cfg, path)  # phone number are duplicates
            redacted.update(stats[path].redacted)
    dropped: Counter = Counter()
    notes = []
    if d.redact:
        found = ", ".join(f"{redacted[k]} {k}" for k in d.redact if redacted[k]) or "nothing found"
        notes.append(f"redacted {', '.join(d.redact)} in every split: {found}")
    train = _dedupe_train(read["train"], dropped)
    val, test = read.get("validation"), read.get("test")
    share_val, share_test = d.split[1], d.split[2]
    if test is None and val is None:
        rest_share = share_val + share_test
        train, rest = _split(train, rest_share, seed)
        # _split returns (kept, held-out); the held-out part of the rest is the test share
        val, test = _split(rest, share_test / rest_share if rest_share else 0, seed) if rest else ([], [])
        notes.append(f"split {d.train} {d.split[0]:.0%}/{share_val:.0%}/{share_test:.0%} (seed {seed}, "
                     f"{'random' if TASK_INPUTS[cfg.task] == 'tokens' else 'stratified'})")
    elif val is None:
        train, val = _split(train, share_val / (share_val + d.split[0]), seed)
        notes.append(f"validation carved out of {d.train} ({len(val)} examples, seed {seed})")
    elif test is None:
        train, test = _split(train, share_test / (share_test + d.split[0]), seed)
        notes.append(f"test carved out of {d.train} ({len(test)} examples, seed {seed})")
    if d.train_limit:
        before = len(train)
        train = _sample(train, d.train_limit, seed)
        if len(train) < before:
            notes.append(f"train limited to {len(train)} of {before} examples (data.train_limit)")
    for name, limit in (("validation", d.validation_limit), ("test", d.test_limit)):
        ex = val if name == "validation" else test
        if limit and ex and len(ex) > limit:
            notes.append(f"{name} limited to {limit} of {len(ex)} examples (data.{name}_limit)")
            ex = _sample(ex, limit, seed)
            val, test = (ex, test) if name == "validation" else (val, ex)
    augmented: Counter = Counter()
    a = d.augment
    if a.per_example:  # after splitting and limits: validation and test stay real data
        before = len(train)
        train, augmented = augment_examples(train, a.ops, a.per_example, a.prob, seed if a.seed is None else a.seed)
        notes.append(f"train augmented with {len(train) - before} EDA copies of {before} examples "
                     f"({', '.join(f'{v} {k}' for k, v in sorted(augmented.items()))}; per_example {a.per_example}, "
                     f"prob {a.prob})")
    splits = Splits(train, val or [], test or [], stats, dropped, notes, redacted, augmented)
    check_labels(cfg, splits)
    return splits


def labels_in(examples: list) -> Counter:
    """How often each label occurs (NER: entities per type; label sets: texts carrying each label)."""
    if examples and isinstance(examples[0], TokenExample):
        return Counter(t[2:] for e in examples for t in e.tags if t.startswith("B-"))
    if examples and isinstance(examples[0], LabelSetExample):
        return Counter(l for e in examples for l in e.labels)
    if examples and isinstance(examples[0], ChatExample):
        return Counter()  # answers are free text, not labels
    return Counter(e.label for e in examples)


def check_labels(cfg: Config, splits: Splits) -> None:
    if not splits.train:
        raise TuneforgeError("no training examples left after cleaning and splitting", where=cfg.data.train,
                             fix="add labeled rows")
    if TASK_INPUTS[cfg.task] == "chat":
        return  # free-text answers: no label set to check
    known = labels_in(splits.train)
    tokens = TASK_INPUTS[cfg.task] == "tokens"
    if not tokens and len(known) < 2:
        raise TuneforgeError(f"training data has only one label ({', '.join(known) or 'none'})",
                             where=cfg.data.train, fix="a classifier needs at least two labels")
    if tokens and not known:
        raise TuneforgeError("training data has no entities (every tag is O)", where=cfg.data.train,
                             fix="check the tag column")
    for name in ("validation", "test"):
        for ex in getattr(splits, name):
            unseen = set(labels_in([ex])) - set(known)
            if unseen:
                label = sorted(unseen)[0]
                raise TuneforgeError(
                    f"{name} label {label!r} never occurs in the training data", where=ex.source,
                    fix="add training examples with that label, fix a typo in the label, or drop the row")
