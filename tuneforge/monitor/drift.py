"""Drift of served traffic against the training reference: PSI on the predicted-label distribution and
on input length, and the mean confidence against the validation split's.

The reference (`RUN/reference.json`) is written at train time from the validation split, by the same
prediction code the server runs, so a model that is served exactly what it was validated on measures
PSI ~ 0. Runs trained before the reference existed still serve; their drift reads "no reference".

PSI (population stability index) = sum over bins of (actual - expected) * ln(actual / expected). The
conventional reading: < 0.1 no shift, 0.1-0.25 a moderate shift, > 0.25 a major one.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REFERENCE = "reference.json"
REFERENCE_FORMAT = 1
EPSILON = 1e-4  # share given to an empty bin: ln(0) is undefined, and one unseen label must not read as infinite
LENGTH_QUANTILES = tuple(q / 10 for q in range(1, 10))  # decile edges: each reference bin holds ~10% of the texts
TEXT_TASKS = ("text-classification", "token-classification")  # what the server takes as input
MAX_REFERENCE_TEXTS = 2000  # validation texts predicted for the reference: bounds the extra pass at train time


@dataclass(frozen=True)
class Thresholds:
    """PSI levels for the status column; the alert rules carry their own thresholds."""
    warn: float = 0.1
    alert: float = 0.25

    def status(self, value: float | None) -> str:
        if value is None:
            return "-"
        return "alert" if value >= self.alert else "warn" if value >= self.warn else "ok"


# ----------------------------------------------------------------------------------------- math

def psi(expected: dict[str, float], actual: dict[str, float], eps: float = EPSILON) -> float:
    """PSI between two share distributions over the same keys (missing keys are empty bins)."""
    keys = sorted(expected.keys() | actual.keys())
    e = np.clip(np.array([expected.get(k, 0.0) for k in keys], dtype=float), eps, None)
    a = np.clip(np.array([actual.get(k, 0.0) for k in keys], dtype=float), eps, None)
    return float(np.sum((a - e) * np.log(a / e)))


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


# ----------------------------------------------------------------------------------------- reference

def build_reference(predict, val_texts: list[str], fit_texts: list[str], task: str, split: str) -> dict:
    """The reference of one model: `predict(texts) -> [served prediction]` on (a sample of) the
    validation texts; length bins fixed on `fit_texts` (training + validation)."""
    from ..serve.requestlog import summarize  # what the request log stores per text, computed the same way
    if len(val_texts) > MAX_REFERENCE_TEXTS:  # evenly spaced, deterministic: the split is already shuffled
        step = len(val_texts) / MAX_REFERENCE_TEXTS
        val_texts = [val_texts[int(i * step)] for i in range(MAX_REFERENCE_TEXTS)]
    summaries = [summarize(p) for p in predict(val_texts)] if val_texts else []
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
    from ..train.run import write_json
    split = "validation" if splits.validation else "test" if splits.test else None
    if split is None or task_name not in TEXT_TASKS:  # images: the request log measures texts only
        return None
    val = [example_text(e) for e in getattr(splits, split)]
    ref = build_reference(predict, val, [example_text(e) for e in splits.train] + val, task_name, split)
    write_json(Path(out) / REFERENCE, ref)
    return ref


def reference_for_run(run_dir: str | Path, overwrite: bool = False) -> tuple[Path, dict]:
    """Write the reference of a run trained before references existed (`tuneforge monitor reference`):
    the run's own config re-creates the same seeded split."""
    from ..data.splits import load_splits
    from ..errors import TuneforgeError
    from ..rundir import load_run
    run = load_run(run_dir)
    path = run.path / REFERENCE
    if path.exists() and not overwrite:
        raise TuneforgeError(f"{path} already exists", where=str(path), fix="pass --overwrite to rebuild it")
    ref = write_reference(run.path, run.cfg.task, run.predict, load_splits(run.cfg))
    if ref is None:
        raise TuneforgeError("no reference for this run: it has neither a validation nor a test split, or its task "
                             f"({run.cfg.task}) does not take text", where=str(run.path / "config.yaml"),
                             fix="references exist for text tasks with a validation or test split")
    return path, ref


def load_reference(model_dir: str | Path) -> dict | None:
    """The reference of a registered version: its own reference.json, or, for an export that was made
    before exports carried one, the source run's (export.json names it). None: no reference."""
    d = Path(model_dir)
    candidates = [d / REFERENCE]
    try:
        src = json.loads((d / "export.json").read_text(encoding="utf-8")).get("source_run")
        if src:
            candidates.append(Path(src) / REFERENCE)
    except (OSError, ValueError, AttributeError):
        pass
    for p in candidates:
        try:
            ref = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(ref, dict) and ref.get("format") == REFERENCE_FORMAT:
            return ref
    return None


# ----------------------------------------------------------------------------------------- measures

@dataclass
class WindowStats:
    """What drift needs from a window of request-log rows, as counts: the server's periodic check reads these
    from SQL aggregates (requestlog.window_stats), so its memory does not grow with the traffic in a window
    (it once read every row of the last hour into Python each minute: at 140 requests/s the high-water mark
    climbed by ~4 MB a minute)."""
    n: int = 0
    labels: Counter = field(default_factory=Counter)  # predicted label ("-" for none) -> rows
    lengths: Counter = field(default_factory=Counter)  # input characters -> rows (rows without a length: none)
    confidence_sum: float = 0.0
    confidence_n: int = 0

    @classmethod
    def of_rows(cls, rows) -> "WindowStats":
        st = cls()
        for r in rows:
            st.add(r.label, getattr(r, "input_chars", None), r.confidence)
        return st

    def add(self, label, chars, confidence, count: int = 1, confidence_sum: float | None = None,
            confidence_n: int | None = None) -> None:
        """One row, or (count > 1) a group of rows with this label and length and their confidence sum/count."""
        self.n += count
        self.labels[label if label is not None else "-"] += count
        if chars is not None:
            self.lengths[int(chars)] += count
        if confidence_sum is not None:
            self.confidence_sum += confidence_sum
            self.confidence_n += confidence_n or 0
        elif confidence is not None:
            self.confidence_sum += confidence * count
            self.confidence_n += count


def measure(rows, reference: dict | None, thresholds: Thresholds = Thresholds()) -> dict:
    """Drift measures of one version over some request-log rows (LogRow-like: label, confidence,
    input_chars), or over their WindowStats. A value is None when it cannot be measured (no rows, no
    reference, no lengths)."""
    st = rows if isinstance(rows, WindowStats) else WindowStats.of_rows(rows)
    n_len = sum(st.lengths.values())
    out = {"n": st.n, "label_share": shares(st.labels),
           "mean_confidence": round(st.confidence_sum / st.confidence_n, 4) if st.confidence_n else None,
           "mean_chars": round(sum(k * c for k, c in st.lengths.items()) / n_len, 1) if n_len else None,
           "psi_label": None, "psi_length": None, "reference_mean_confidence": None, "confidence_delta": None,
           "length_share": None}
    if reference is None:
        out["status"] = "no reference"
        return out
    ref_conf = reference.get("mean_confidence")
    out["reference_mean_confidence"] = ref_conf
    if not st.n:
        out["status"] = "no data"
        return out
    out["psi_label"] = round(psi(reference["labels"], out["label_share"]), 4)
    if n_len:  # rows logged before input_chars existed have none: no length PSI rather than a wrong one
        out["length_share"] = weighted_length_bins(st.lengths, reference["length"]["edges"])
        out["psi_length"] = round(psi(reference["length"]["shares"], out["length_share"]), 4)
    if st.confidence_n and ref_conf is not None:
        out["confidence_delta"] = round(out["mean_confidence"] - ref_conf, 4)
    worst = max((v for v in (out["psi_label"], out["psi_length"]) if v is not None), default=None)
    out["status"] = thresholds.status(worst)
    return out
