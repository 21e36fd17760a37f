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
    per-label threshold. Chosen for the selection metric, micro-F1 over every yes/no decision, by coordinate ascent
    over the labels (SWEEPS passes), each step taking the smallest |offset| reaching the best score. Not each
    label's own F1: for a label the scores cannot separate, that is maximised by saying yes to every text, which
    floods the other labels' decisions with false alarms (MovieLens genres: validation micro-F1 0.20 that way).
    Scores are logits (or log-odds); `y` is 0/1, examples x labels. Returns (offsets, micro-F1 before, after)."""
    y = y.astype(bool)
    offsets = np.zeros(scores.shape[1])
    by_size = GRID[np.argsort(np.abs(GRID), kind="stable")]
    pred = scores > 0
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())

    def micro(tp, fp, fn):
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    before = best = micro(tp, fp, fn)
    for _ in range(SWEEPS):
        moved = False
        for c in range(scores.shape[1]):
            col, yes = pred[:, c], y[:, c]
            base = (tp - int((col & yes).sum()), fp - int((col & ~yes).sum()), fn - int((~col & yes).sum()))
            results = []
            for v in by_size:  # this label's decisions at offset v, the others' as they are
                p = scores[:, c] + v > 0
                results.append(micro(base[0] + int((p & yes).sum()), base[1] + int((p & ~yes).sum()),
                                     base[2] + int((~p & yes).sum())))
            i = int(np.argmax(results))
            if results[i] > best + 1e-12:
                offsets[c], best, moved = by_size[i], results[i], True
                pred[:, c] = scores[:, c] + offsets[c] > 0
                tp, fp, fn = (base[0] + int((pred[:, c] & yes).sum()), base[1] + int((pred[:, c] & ~yes).sum()),
                              base[2] + int((~pred[:, c] & yes).sum()))
        if not moved:
            break
    return offsets, before, label_set_f1(y, scores + offsets > 0)["micro_f1"]
