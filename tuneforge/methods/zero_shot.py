"""Zero-shot classification: labels in, predictions out, no parameter updates and no training data.

Two methods (one module each):
  embedding  cosine between a sentence encoder's embedding of the text and of each label's description
             (zero_shot_embed.py; the packaged minilm-l6 for English, multilingual-e5-small for Chinese)
  llm        the log-likelihood of each label as the answer of a small instruction-tuned LM to a prompt
             (zero_shot_llm.py; the packaged SmolLM2-135M-Instruct)

Options live in the config's `zero_shot:` section (tuneforge.config.ZeroShotConfig); the CLI's flags
fill the same dataclass, so both paths share one validation (`check_options`).
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

from ..config import Config, ZeroShotConfig, register_check, validate
from ..data.splits import load_splits, read_file
from ..errors import TuneforgeError
from ..tasks.base import get_task

METHODS = ("embedding", "llm")


def parse_labels(text: str, where: str = "--labels") -> list[str]:
    labels = [l.strip() for l in text.split(",")]
    check_labels(labels, where)
    return labels


def check_labels(labels: list[str], where: str) -> None:
    if any(not l for l in labels):
        raise TuneforgeError(f"empty label in {labels!r}", where=where,
                             fix='give comma-separated names with no empty entries, e.g. --labels "positive,negative"')
    dup = [l for l, n in Counter(labels).items() if n > 1]
    if dup:
        raise TuneforgeError(f"label {dup[0]!r} is given twice", where=where, fix="name each label once")
    if len(labels) < 2:
        raise TuneforgeError(f"zero-shot needs at least two labels to choose from, got {labels!r}", where=where,
                             fix='give two or more, e.g. --labels "positive,negative"')


def parse_pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """`--describe positive="a glowing review"` (repeatable) -> {"positive": "a glowing review"}."""
    out = {}
    for item in items or []:
        label, sep, text = item.partition("=")
        if not sep or not label.strip() or not text.strip():
            raise TuneforgeError(f"{flag} {item!r} is not LABEL=TEXT", where=flag,
                                 fix=f'write e.g. {flag} positive="a positive review"')
        out[label.strip()] = text.strip()
    return out


def check_options(zs: ZeroShotConfig, bad) -> None:
    """Validation shared by config files and CLI flags; `bad(key, what, fix)` raises a TuneforgeError."""
    if zs.method not in METHODS:
        bad("zero_shot.method", f"is {zs.method!r}", f"use one of: {', '.join(METHODS)}")
    if zs.labels:
        try:
            check_labels(zs.labels, "zero_shot.labels")
        except TuneforgeError as e:
            bad("zero_shot.labels", e.what, e.fix)
    for key in ("descriptions", "verbalizers"):
        pairs = getattr(zs, key)
        if not isinstance(pairs, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                  for k, v in pairs.items()):
            bad(f"zero_shot.{key}", f"is {pairs!r}", f"map each label to a non-empty text, e.g. "
                                                     f"`{key}: {{positive: a positive review}}`")
        unknown = sorted(set(pairs) - set(zs.labels)) if zs.labels else []
        if unknown:
            bad(f"zero_shot.{key}", f"names {unknown[0]!r}, which is not one of the labels {zs.labels}",
                "use the label names exactly as in zero_shot.labels / --labels")
    if zs.template is not None:
        from .zero_shot_embed import check_description_template
        from .zero_shot_llm import check_prompt
        try:
            (check_prompt if zs.method == "llm" else check_description_template)(zs.template, "zero_shot.template")
        except TuneforgeError as e:
            bad("zero_shot.template", e.what, e.fix)
    if zs.batch_size <= 0:
        bad("zero_shot.batch_size", f"must be positive, got {zs.batch_size}", "use e.g. 32")


@register_check("zero_shot")
def check_section(cfg: Config, bad) -> None:
    check_options(cfg.zero_shot, bad)


def _raise_on_cli(key: str, what: str, fix: str) -> None:
    flag = "--" + key.split(".")[-1].replace("_", "-")
    sep = " " if what.split()[0] in ("is", "must", "names", "has") else ": "  # "--method is 'foo'"
    raise TuneforgeError(f"{flag}{sep}{what}", where="command line", fix=fix)


def with_flags(zs: ZeroShotConfig, **flags) -> ZeroShotConfig:
    """A copy of `zs` with the CLI flags that were given (None = not given) applied, then validated."""
    zs = copy.deepcopy(zs)
    for key, value in flags.items():
        if value is not None and value != {}:
            setattr(zs, key, value)
    check_options(zs, _raise_on_cli)
    return zs


def build_classifier(zs: ZeroShotConfig, labels: list[str], default_backbone: str = "minilm-l6"):
    """The scorer for `zs.method`: an object with `.labels` and `.probabilities(texts)`."""
    check_labels(labels, "zero_shot.labels")
    for key in ("descriptions", "verbalizers"):  # labels may come from the data: check the names again here
        unknown = sorted(set(getattr(zs, key)) - set(labels))
        if unknown:
            raise TuneforgeError(f"zero_shot.{key} names {unknown[0]!r}, which is not one of the labels {labels}",
                                 where=f"zero_shot.{key}", fix="use the label names exactly as the data spells them")
    if zs.method == "llm":
        from .zero_shot_llm import LabelLikelihood
        return LabelLikelihood(labels, zs.backbone, zs.template, zs.verbalizers, zs.calibrate, zs.batch_size)
    from .zero_shot_embed import EmbeddingSimilarity
    return EmbeddingSimilarity(labels, zs.backbone or default_backbone, zs.template, zs.descriptions,
                               zs.batch_size)


def predict(clf, texts: list[str]) -> list[dict]:
    """One dict per text, shaped like `tuneforge predict`: text, label, probabilities."""
    for i, t in enumerate(texts):
        if not t.strip():
            raise TuneforgeError(f"text {i + 1} is empty", where=f"input text {i + 1}",
                                 fix="remove empty texts; a zero-shot label for nothing means nothing")
    out = []
    for text, probs in zip(texts, clf.probabilities(texts)):
        best = max(range(len(probs)), key=probs.__getitem__)
        out.append({"text": text, "label": clf.labels[best],
                    "probabilities": {l: round(p, 6) for l, p in zip(clf.labels, probs)}})
    return out


def evaluate(clf, examples: list, majority_labels: list[str] | None = None) -> dict:
    """Accuracy and macro-F1 on labeled examples, beside the majority baseline (the most common label of
    `majority_labels`, usually the training split; else of the examples themselves)."""
    from sklearn.metrics import accuracy_score, classification_report, f1_score
    if not examples:
        raise TuneforgeError("no labeled examples to evaluate on", fix="give a file with labeled rows")
    for ex in examples:
        if ex.label not in clf.labels:
            raise TuneforgeError(f"gold label {ex.label!r} is not one of the zero-shot labels {clf.labels}",
                                 where=ex.source or None,
                                 fix="pass --labels with every label that occurs in the data (same spelling)")
    preds = predict(clf, [e.text for e in examples])
    gold, guess = [e.label for e in examples], [p["label"] for p in preds]
    top = Counter(majority_labels or gold).most_common(1)[0][0]
    return {
        "accuracy": round(accuracy_score(gold, guess), 4),
        "macro_f1": round(f1_score(gold, guess, labels=clf.labels, average="macro", zero_division=0), 4),
        "n": len(examples),
        "baseline_majority": {"label": top, "accuracy": round(sum(g == top for g in gold) / len(gold), 4)},
        "report": classification_report(gold, guess, labels=clf.labels, digits=4, zero_division=0),
        "predictions": [p | {"gold": g} for p, g in zip(preds, gold)],
    }


def read_labeled(path: str, text_column: str = "text", label_column: str = "label") -> list:
    if not Path(path).is_file():
        raise TuneforgeError(f"labeled file not found: {path}", where=path, fix="check the path")
    cfg = Config()
    cfg.data.text_column, cfg.data.label_column = text_column, label_column
    examples, _ = read_file(cfg, path)
    return examples


def evaluate_config(cfg: Config) -> tuple[dict, list[str]]:
    """Zero-shot on the config's test split (the same one `tuneforge train` reports), majority baseline
    from its training split. Labels default to the training data's own labels."""
    validate(cfg)  # a config read before this module was imported has not met check_section yet
    if not get_task(cfg.task).classifies_texts:
        raise TuneforgeError(f"zero-shot classifies whole texts; task is {cfg.task}", where="task",
                             fix="use a text-classification config")
    splits = load_splits(cfg)
    labels = cfg.zero_shot.labels or sorted({e.label for e in splits.train})
    clf = build_classifier(cfg.zero_shot, labels, default_backbone=cfg.backbone)
    return evaluate(clf, splits.test, [e.label for e in splits.train]), labels
