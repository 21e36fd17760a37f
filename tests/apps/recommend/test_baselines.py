"""Popularity and item-kNN on a click matrix small enough to work out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuneforge.apps.recommend.baselines import (build_view, evaluate_scores, item_knn_scores, item_similarity,
                                                popularity_scores)
from tuneforge.apps.recommend.data import Event

ITEMS = ["a", "b", "c", "d"]


def history() -> dict:
    # u1 clicked a, b; u2 clicked a, b, c; u3 clicked c and rated d 2 (seen, not clicked)
    rows = [("u1", "a", 5, 1), ("u1", "b", 4, 2), ("u2", "a", 5, 1), ("u2", "b", 5, 2), ("u2", "c", 4, 3),
            ("u3", "c", 5, 1), ("u3", "d", 2, 2)]
    out = {}
    for n, (u, i, r, t) in enumerate(rows):
        out.setdefault(u, []).append(Event(u, i, float(r), float(t), n + 2))
    return out


def test_view_holds_clicks_seen_items_and_recent_clicks():
    v = build_view(history(), ITEMS, 4.0)
    assert v.users == ["u1", "u2", "u3"]
    assert v.clicks.tolist() == [[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 0]]
    assert v.seen[2].tolist() == [2, 3]  # d was rated, so it is seen, though not a click
    assert v.recent[1] == [2, 1, 0]  # newest first
    assert v.popularity.tolist() == [2, 2, 2, 0]


def test_item_cosine_by_hand():
    v = build_view(history(), ITEMS, 4.0)
    sim = item_similarity(v.clicks, None)
    # a = (1,1,0), b = (1,1,0), c = (0,1,1): cos(a,b) = 1, cos(a,c) = 1/2, d has no clicks
    assert sim[0, 1] == pytest.approx(1.0) and sim[0, 2] == pytest.approx(0.5) and sim[0, 0] == 0.0
    assert np.allclose(sim[3], 0) and np.allclose(sim, sim.T)
    knn1 = item_similarity(v.clicks, 1)  # each item keeps its single nearest neighbour
    assert knn1[0].tolist() == pytest.approx([0, 1, 0, 0])
    assert sorted(knn1[2].tolist()) == pytest.approx([0, 0, 0, 0.5])  # a and b tie for c: one is kept


def test_knn_scores_sum_similarities_to_clicked_items():
    v = build_view(history(), ITEMS, 4.0)
    s = item_knn_scores(v, None)
    # u3 clicked only c: score(a) = cos(a,c) = 0.5, score(b) = 0.5, score(d) = 0
    assert s[2].tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0])


def test_evaluation_ranks_only_unseen_items_and_counts_users_without_history():
    v = build_view(history(), ITEMS, 4.0)
    pop = popularity_scores(v)
    res = evaluate_scores(pop, v, {"u1": {"c"}, "u9": {"a"}}, k=1)
    # u1's candidates are c (2 clicks) and d (0): c ranks first
    assert res["users"] == 1 and res["users_without_history"] == 1
    assert res["recall@1"] == 1.0 and res["ndcg@1"] == 1.0 and res["auc"] == 1.0
    res = evaluate_scores(pop, v, {"u1": {"d"}}, k=1)
    assert res["recall@1"] == 0.0 and res["auc"] == 0.0 and not math.isnan(res["ndcg@1"])
