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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.splits import load_splits
from ..errors import TuneforgeError
from ..evaluation.reference import (  # noqa: F401  (re-exported: drift's readers import them from here)
    LENGTH_QUANTILES, MAX_REFERENCE_TEXTS, REFERENCE, REFERENCE_FORMAT, bin_labels, build_reference,
    example_text, length_bins, length_edges, shares, weighted_length_bins, write_reference)
from ..rundir import CONFIG_FILE, load_run
from ..store.requestlog import WindowStats  # noqa: F401  (re-exported)

EPSILON = 1e-4  # share given to an empty bin: ln(0) is undefined, and one unseen label must not read as infinite


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


# ----------------------------------------------------------------------------------------- reference

def reference_for_run(run_dir: str | Path, overwrite: bool = False) -> tuple[Path, dict]:
    """Write the reference of a run trained before references existed (`tuneforge monitor reference`):
    the run's own config re-creates the same seeded split."""
    run = load_run(run_dir)
    path = run.path / REFERENCE
    if path.exists() and not overwrite:
        raise TuneforgeError(f"{path} already exists", where=str(path), fix="pass --overwrite to rebuild it")
    ref = write_reference(run.path, run.cfg.task, run.predict, load_splits(run.cfg))
    if ref is None:
        raise TuneforgeError("no reference for this run: it has neither a validation nor a test split, or its task "
                             f"({run.cfg.task}) does not take text", where=str(run.path / CONFIG_FILE),
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
