"""Ranking metrics over a full ranking of each user's candidate items, averaged over users.

Candidates are every item the user has not interacted with in the history the scorer saw; relevant
items are the candidates the user clicked in the held-out part. Per user:
- AUC: the chance that a random relevant candidate scores above a random non-relevant one (ties count
  half), from average ranks (Mann-Whitney U).
- Recall@k: relevant items in the top k / all relevant items.
- NDCG@k: binary gains, DCG = sum over hits at rank r (1-based) of 1/log2(r+1), divided by the DCG of a
  perfect ranking, which puts min(k, #relevant) hits first.
Ties in the top k are broken by item order (stable sort), so every arm is scored deterministically.
A user with no relevant or no non-relevant candidate is skipped (AUC is undefined there) and counted.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def batch_metrics(scores: np.ndarray, relevant: np.ndarray, candidates: np.ndarray, k: int) -> list[dict | None]:
    """scores: [users, items]; relevant, candidates: boolean [users, items]. One dict per user (None: skipped).

    Vectorised over users: non-candidates are set to -inf, so they take the lowest ranks and a candidate's
    rank among candidates is its row rank minus the number of non-candidates.
    """
    relevant = relevant & candidates
    s = np.where(candidates, scores.astype(np.float64), -np.inf)
    n_pos, n_cand = relevant.sum(1), candidates.sum(1)
    n_neg = n_cand - n_pos
    ranks = rankdata(s, axis=1)  # ascending, ties share their average rank
    pos_rank_sum = (ranks * relevant).sum(1) - n_pos * (s.shape[1] - n_cand)
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]  # ties: the lower item index first
    hits = np.take_along_axis(relevant, top, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discounts[:hits.shape[1]]).sum(1)
    out = []
    for u in range(s.shape[0]):
        p, n = int(n_pos[u]), int(n_neg[u])
        if p == 0 or n == 0:
            out.append(None)
            continue
        auc = (pos_rank_sum[u] - p * (p + 1) / 2) / (p * n)
        out.append({"auc": float(auc), f"recall@{k}": float(hits[u].sum() / p),
                    f"ndcg@{k}": float(dcg[u] / discounts[:min(k, p)].sum())})
    return out


def user_metrics(scores: np.ndarray, relevant: np.ndarray, candidates: np.ndarray, k: int) -> dict | None:
    """One user: scores [items]; relevant, candidates: boolean [items] (relevant within candidates)."""
    return batch_metrics(scores[None, :], relevant[None, :], candidates[None, :], k)[0]


def mean_metrics(per_user: list[dict | None], k: int) -> dict:
    kept = [m for m in per_user if m is not None]
    keys = ("auc", f"recall@{k}", f"ndcg@{k}")
    out = {key: (float(np.mean([m[key] for m in kept])) if kept else float("nan")) for key in keys}
    return out | {"users": len(kept), "users_skipped": len(per_user) - len(kept)}
