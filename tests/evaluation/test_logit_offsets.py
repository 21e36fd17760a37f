"""Choosing per-class offsets on validation scores (evaluation/logit_offsets.py): found where a boundary is shifted,
none where it is already right, one per class for more than two."""

from __future__ import annotations

import numpy as np

from tuneforge.evaluation import logit_offsets as lo


def shifted_scores(n: int, shift: float, seed: int = 0):
    """Two classes, half each, separable at a boundary `shift` away from where argmax puts it: a model trained on
    data where class 0 was far more common."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    margin = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 0.3, n) - shift  # log p1 - log p0
    scores = np.stack([np.zeros(n), margin], 1)
    return scores - np.logaddexp(scores[:, :1], scores[:, 1:]), y


def test_a_shifted_boundary_is_found_and_raises_validation_macro_f1():
    scores, y = shifted_scores(200, shift=2.0)
    offsets, before, after = lo.choose_offsets(scores, y)
    assert before < 0.6 and after > 0.95
    assert offsets[0] == 0 and 1.0 < offsets[1] < 3.0  # the boundary moved back toward the minority's side


def test_a_boundary_already_in_place_is_left_at_zero():
    scores, y = shifted_scores(200, shift=0.0)
    offsets, before, after = lo.choose_offsets(scores, y)
    assert after == before and not offsets.any()  # ties go to the smallest shift: none


def test_three_classes_each_get_their_own_offset():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 60)
    scores = np.eye(3)[y] * 2 + rng.normal(0, 0.4, (180, 3))
    scores[:, 2] -= 3.0  # class 2 is never predicted before the offsets
    offsets, before, after = lo.choose_offsets(scores, y)
    assert after > before + 0.2 and offsets[2] > 1.0
