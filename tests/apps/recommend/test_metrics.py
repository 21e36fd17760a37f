"""AUC, Recall@k and NDCG@k on toy rankings worked out by hand, and against a brute-force definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuneforge.apps.recommend.metrics import batch_metrics, mean_metrics, user_metrics


def mask(n: int, on) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[list(on)] = True
    return m


def test_hand_computed_toy_ranking_with_a_seen_item_excluded():
    # items 0..5; item 5 was seen (not a candidate) and would top the list; relevant: 1 and 3
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 10.0])
    m = user_metrics(scores, mask(6, {1, 3}), mask(6, range(5)), k=3)
    # ranking 0,1,2,3,4: hits at ranks 2 and 4; only rank 2 is in the top 3
    assert m["recall@3"] == pytest.approx(1 / 2)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    # pairs (pos, neg): 0.8 beats 0.7 and 0.5, loses to 0.9; 0.6 beats 0.5 only -> 3 of 6
    assert m["auc"] == pytest.approx(3 / 6)


def test_perfect_and_reversed_rankings():
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    best = user_metrics(scores, mask(4, {0, 1}), mask(4, range(4)), k=2)
    assert best == {"auc": 1.0, "recall@2": 1.0, "ndcg@2": 1.0}
    worst = user_metrics(-scores, mask(4, {0, 1}), mask(4, range(4)), k=2)
    assert worst == {"auc": 0.0, "recall@2": 0.0, "ndcg@2": 0.0}


def test_ties_count_half_in_auc_and_break_by_item_order_in_top_k():
    scores = np.array([1.0, 1.0, 1.0])
    m = user_metrics(scores, mask(3, {1}), mask(3, range(3)), k=1)
    assert m["auc"] == pytest.approx(0.5)
    assert m["recall@1"] == 0.0  # item 0 comes first among equals
    m = user_metrics(scores, mask(3, {0}), mask(3, range(3)), k=1)
    assert m["recall@1"] == 1.0 and m["ndcg@1"] == 1.0


def test_ndcg_ideal_uses_min_of_k_and_relevant_count():
    # 3 relevant, k=2, hits at ranks 1 and 3: DCG = 1; ideal puts 2 hits first
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    m = user_metrics(scores, mask(5, {0, 2, 4}), mask(5, range(5)), k=2)
    assert m["ndcg@2"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert m["recall@2"] == pytest.approx(1 / 3)


def test_users_without_positives_or_negatives_are_skipped_and_counted():
    scores = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    rel = np.array([[False, False], [True, True], [True, False]])
    cand = np.ones_like(rel)
    per_user = batch_metrics(scores, rel, cand, k=1)
    assert per_user[0] is None and per_user[1] is None and per_user[2]["auc"] == 0.0
    out = mean_metrics(per_user, k=1)
    assert out["users"] == 1 and out["users_skipped"] == 2 and out["auc"] == 0.0


def test_batch_matches_brute_force_definitions_on_random_data():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(30, 12)).astype(float)  # many ties on purpose
    cand = rng.random((30, 12)) > 0.2
    rel = (rng.random((30, 12)) > 0.7) & cand
    for u, m in enumerate(batch_metrics(scores, rel, cand, k=4)):
        c = np.flatnonzero(cand[u])
        pos = [i for i in c if rel[u, i]]
        neg = [i for i in c if not rel[u, i]]
        if not pos or not neg:
            assert m is None
            continue
        wins = sum((scores[u, p] > scores[u, n]) + 0.5 * (scores[u, p] == scores[u, n]) for p in pos for n in neg)
        assert m["auc"] == pytest.approx(wins / (len(pos) * len(neg)))
        ranked = sorted(c, key=lambda i: (-scores[u, i], i))[:4]
        assert m["recall@4"] == pytest.approx(sum(rel[u, i] for i in ranked) / len(pos))
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(ranked) if rel[u, i])
        assert m["ndcg@4"] == pytest.approx(dcg / sum(1 / math.log2(r + 2) for r in range(min(4, len(pos)))))
