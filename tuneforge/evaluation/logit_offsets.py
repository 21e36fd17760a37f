"""Per-class offsets on output scores, chosen on a validation split to maximise macro-F1 (post-hoc logit adjustment).

Two users: the fine-tuned model (tuneforge/train/decision_bias.py folds the offsets into its output bias) and the
TF-IDF baseline (evaluation/baseline.py adds them to its log-probabilities). Both get the same treatment so the
comparison between them stays fair: a baseline left at its plain argmax on imbalanced data would lose points that
no fine-tuning earned.
"""

from __future__ import annotations

import numpy as np

from ..tasks.class_metrics import accuracy_macro_f1, label_set_f1

MIN_GAIN = 0.01  # validation macro-F1 points (as a fraction) the offsets must add to be kept
GRID = np.round(np.arange(-5.0, 5.0001, 0.1), 1)  # e^5 ≈ 150: beyond any class ratio a few hundred rows give
SWEEPS = 3  # coordinate passes over the classes (one suffices for two classes)


def macro_f1(scores: np.ndarray, y: np.ndarray, offsets: np.ndarray) -> float:
    return accuracy_macro_f1(y, (scores + offsets).argmax(-1), scores.shape[1])["macro_f1"]


def choose_offsets(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Coordinate ascent over classes 1..K-1 on the grid, each step taking the smallest |offset| among those with
    the best score. Returns (offsets, score before, score after)."""
    k = scores.shape[1]
    offsets = np.zeros(k)
    before = best = macro_f1(scores, y, offsets)
    by_size = GRID[np.argsort(np.abs(GRID), kind="stable")]  # 0, ±0.1, ±0.2, ...: ties go to the smaller shift
    for _ in range(SWEEPS if k > 2 else 1):
        moved = False
        for c in range(1, k):
            trial = offsets.copy()
            results = []
            for v in by_size:
                trial[c] = v
                results.append(macro_f1(scores, y, trial))
            i = int(np.argmax(results))  # the first maximum: the smallest shift reaching it
            if results[i] > best + 1e-12:
                offsets[c], best, moved = by_size[i], results[i], True
        if not moved:
            break
    return offsets, before, best


def choose_label_offsets(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Label sets (multi-label): each label says yes when its score plus its offset is above 0, so an offset is a
    per-label threshold. Each label's offset is the smallest |offset| on the grid reaching that label's best
    validation F1 (labels decide independently). Scores are logits (or log-odds); `y` is 0/1, examples x labels.
    Returns (offsets, micro-F1 before, micro-F1 after)."""
    offsets = np.zeros(scores.shape[1])
    by_size = GRID[np.argsort(np.abs(GRID), kind="stable")]
    for c in range(scores.shape[1]):
        yes = y[:, c].astype(bool)
        if not yes.any():  # no positive to find on validation: any shift only adds false alarms
            continue
        best, pick = -1.0, 0.0
        for v in by_size:
            pred = scores[:, c] + v > 0
            tp = int((pred & yes).sum())
            f1 = 2 * tp / (int(pred.sum()) + int(yes.sum()))
            if f1 > best + 1e-12:
                best, pick = f1, v
        offsets[c] = pick
    before = label_set_f1(y, scores > 0)["micro_f1"]
    after = label_set_f1(y, scores + offsets > 0)["micro_f1"]
    return offsets, before, after
