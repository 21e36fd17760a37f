"""The drift reference of a run (`RUN/reference.json`): what its predictions and inputs looked like on held-out
data, written at train time by the same prediction code the server runs, so a model served exactly what it
was validated on measures PSI ~ 0 (tuneforge/monitor/drift.py compares traffic against it).

It sits in evaluation, below the run writers (training, export) and the readers (request log, monitor) alike.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..tasks.base import Task, find_task
from ..writing import write_json

REFERENCE = "reference.json"
REFERENCE_FORMAT = 1
LENGTH_QUANTILES = tuple(q / 10 for q in range(1, 10))  # decile edges: each reference bin holds ~10% of the texts
MAX_REFERENCE_TEXTS = 2000  # validation texts predicted for the reference: bounds the extra pass at train time


def summarize(pred: dict, task: Task | None) -> tuple[str | None, float | None]:
    """(label, confidence) of one prediction, as its task summarises it (Task.summarize); a run whose task is
    unknown (a damaged config) is summarised as a classifier's."""
    return (task or Task()).summarize(pred)


def shares(counts: Counter | dict) -> dict[str, float]:
    total = sum(counts.values())
    return {str(k): c / total for k, c in counts.items()} if total else {}


def length_edges(lengths: list[int]) -> list[int]:
    """Upper bin edges from the reference lengths' deciles; bin i holds edges[i-1] < n <= edges[i],
    the last bin everything longer. Repeated deciles (many texts of one length) collapse into one edge."""
    if not lengths:
        return []
    return sorted({int(math.ceil(q)) for q in np.quantile(np.asarray(lengths, dtype=float), LENGTH_QUANTILES)})


def length_bins(lengths, edges: list[int]) -> dict[str, float]:
    """Shares per length bin, keyed by bin label ("<=12", "13-20", ">57") so reports read on their own."""
    return weighted_length_bins(Counter(int(n) for n in lengths), edges)


def weighted_length_bins(lengths: Counter, edges: list[int]) -> dict[str, float]:
    """length_bins of a {length: count} tally (what the request log's aggregate query returns)."""
    labels = bin_labels(edges)
    values = list(lengths)
    idx = np.searchsorted(np.asarray(edges), np.asarray(values, dtype=float), side="left")
    binned: Counter = Counter()
    for i, v in zip(idx, values):
        binned[labels[i]] += lengths[v]
    return shares(binned)


def bin_labels(edges: list[int]) -> list[str]:
    if not edges:
        return ["all"]
    out = [f"<={edges[0]}"] + [f"{lo + 1}-{hi}" for lo, hi in zip(edges, edges[1:])]
    return out + [f">{edges[-1]}"]


def build_reference(predict, val_texts: list[str], fit_texts: list[str], task: str, split: str) -> dict:
    """The reference of one model: `predict(texts) -> [served prediction]` on (a sample of) the
    validation texts; length bins fixed on `fit_texts` (training + validation)."""
    if len(val_texts) > MAX_REFERENCE_TEXTS:  # evenly spaced, deterministic: the split is already shuffled
        step = len(val_texts) / MAX_REFERENCE_TEXTS
        val_texts = [val_texts[int(i * step)] for i in range(MAX_REFERENCE_TEXTS)]
    spec = find_task(task)
    summaries = [summarize(p, spec) for p in predict(val_texts)] if val_texts else []
    conf = [c for _, c in summaries if c is not None]
    fit_lengths = [len(t) for t in fit_texts]
    edges = length_edges(fit_lengths)
    return {
        "format": REFERENCE_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": task,
        "split": split,
        "n": len(summaries),
        "labels": shares(Counter(label for label, _ in summaries)),
        "mean_confidence": round(float(np.mean(conf)), 6) if conf else None,
        "length": {"unit": "chars", "edges": edges, "shares": length_bins(fit_lengths, edges), "n": len(fit_lengths),
                   "mean": round(float(np.mean(fit_lengths)), 2) if fit_lengths else None},
    }


def example_text(ex) -> str:
    """The text a caller would send for a data example: as is, or an NER sentence's tokens joined
    (without spaces when every token is a single non-ASCII character: character-level Chinese)."""
    if hasattr(ex, "text"):
        return ex.text
    tokens = list(ex.tokens)
    sep = "" if all(len(t) == 1 and not t.isascii() for t in tokens) else " "
    return sep.join(tokens)


def write_reference(out: Path, task_name: str, predict, splits) -> dict | None:
    """RUN/reference.json from a run's splits (validation, else test); None (nothing written) when there is
    no such split or the task does not take text."""
    split = "validation" if splits.validation else "test" if splits.test else None
    task = find_task(task_name)
    if split is None or task is None or not task.takes_text:  # images: the request log measures texts only
        return None
    val = [example_text(e) for e in getattr(splits, split)]
    ref = build_reference(predict, val, [example_text(e) for e in splits.train] + val, task_name, split)
    write_json(Path(out) / REFERENCE, ref)
    return ref
