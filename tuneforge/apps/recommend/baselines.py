"""What a scorer may know (a `View` of the history) and the two classic baselines scored on it.

- popularity: an item's clicks in the history, the same list for every user.
- item-kNN: cosine similarity between item columns of the binary user-item click matrix; a user's
  score for item i is the sum of i's similarities to the items they clicked, each item keeping only
  its `neighbours` most similar items (the usual sparsification; the count is chosen on validation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Event
from .metrics import batch_metrics, mean_metrics


@dataclass
class View:
    items: list[str]              # item ids, in the items file's order
    index: dict[str, int]         # item id -> column
    users: list[str]              # users with any history, in row order
    row: dict[str, int]           # user id -> row
    seen: list[np.ndarray]        # per row: columns of every item interacted with (never recommended again)
    recent: list[list[int]]       # per row: clicked columns, most recent first
    clicks: np.ndarray            # [users, items] float32 0/1
    popularity: np.ndarray        # [items] clicks in the history


def build_view(history: dict[str, list[Event]], items: list[str], click_threshold: float) -> View:
    index = {it: j for j, it in enumerate(items)}
    users = sorted(history)
    clicks = np.zeros((len(users), len(items)), dtype=np.float32)
    seen, recent = [], []
    for r, u in enumerate(users):
        evs = history[u]  # oldest first
        seen.append(np.array(sorted({index[e.item] for e in evs}), dtype=np.int64))
        clicked = [index[e.item] for e in evs if e.rating >= click_threshold]
        clicks[r, clicked] = 1.0
        recent.append(list(dict.fromkeys(reversed(clicked))))  # newest first, each item once
    return View(items, index, users, {u: r for r, u in enumerate(users)}, seen, recent, clicks, clicks.sum(0))


def evaluate_scores(scores: np.ndarray, view: View, targets: dict[str, set[str]], k: int = 10) -> dict:
    """scores: [len(view.users), n_items]. Users without history cannot be ranked for and are counted apart."""
    users = [u for u in targets if u in view.row]
    rows = np.array([view.row[u] for u in users], dtype=np.int64)
    cand = np.ones((len(users), len(view.items)), dtype=bool)
    rel = np.zeros_like(cand)
    for n, u in enumerate(users):
        cand[n, view.seen[view.row[u]]] = False
        rel[n, [view.index[i] for i in targets[u]]] = True
    per_user = batch_metrics(np.asarray(scores)[rows], rel, cand, k) if users else []
    no_history = len(targets) - len(users)
    return mean_metrics(per_user, k) | ({"users_without_history": no_history} if no_history else {})


def popularity_scores(view: View) -> np.ndarray:
    return np.broadcast_to(view.popularity.astype(np.float64), view.clicks.shape)


def item_similarity(clicks: np.ndarray, neighbours: int | None) -> np.ndarray:
    norms = np.sqrt(clicks.sum(0))  # binary columns: the norm is sqrt(click count)
    sim = (clicks.T @ clicks) / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(sim, 0.0)  # an item is not its own neighbour
    if neighbours is not None and neighbours < sim.shape[0]:
        cut = np.argpartition(-sim, neighbours, axis=1)[:, neighbours:]  # all but the top `neighbours` per row
        np.put_along_axis(sim, cut, 0.0, axis=1)
    return sim


def item_knn_scores(view: View, neighbours: int | None) -> np.ndarray:
    sim = item_similarity(view.clicks, neighbours)  # row i: item i's kept neighbours
    return view.clicks @ sim.T  # score(u, i) = sum over clicked j of sim(i, j)
