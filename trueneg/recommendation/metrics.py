"""Top-k ranking metrics of a recommender on held-out interactions, via pytrec_eval.

Every user with at least one held-out item is ranked over all items, with the user's *training*
items removed (they are known, so recommending them again says nothing). Recall@k is hits over
the user's held-out items; NDCG@k uses binary relevance. Under leave-last-out (one held-out item)
Recall@k is the hit rate.
"""

from __future__ import annotations

import numpy as np

from trueneg.recommendation.data import Interactions


def top_k(scores: np.ndarray, train: Interactions, users: np.ndarray, k: int) -> np.ndarray:
    """``(len(users), k)`` item indices ranked best first, the users' training items excluded."""
    s = np.array(scores[users], dtype=np.float64, copy=True)
    keep = np.isin(train.users, users)
    row = np.searchsorted(users, train.users[keep])
    s[row, train.items[keep]] = -np.inf
    part = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def per_user_topk(scores: np.ndarray, train: Interactions, test: Interactions, k: int = 20) -> dict[str, np.ndarray]:
    """``recall@k`` and ``ndcg@k`` of every user with held-out items (arrays in user order), and ``users``."""
    import pytrec_eval

    scores = np.asarray(scores)
    if scores.shape != (train.n_users, train.n_items):
        raise ValueError(f"scores must be (n_users={train.n_users}, n_items={train.n_items}), got {scores.shape}")
    users = np.unique(test.users)
    if not len(users):
        raise ValueError("no held-out interactions to evaluate")
    ranked = top_k(scores, train, users, k)
    qrels: dict[str, dict[str, int]] = {str(u): {} for u in users}
    for u, i in zip(test.users.tolist(), test.items.tolist()):
        qrels[str(u)][str(i)] = 1
    run = {str(u): {str(i): float(k - r) for r, i in enumerate(row)} for u, row in zip(users.tolist(), ranked.tolist())}
    measured = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{k}", f"recall.{k}"}).evaluate(run)
    return {
        f"recall@{k}": np.array([measured[str(u)][f"recall_{k}"] for u in users.tolist()]),
        f"ndcg@{k}": np.array([measured[str(u)][f"ndcg_cut_{k}"] for u in users.tolist()]),
        "users": users,
    }


def evaluate_topk(scores: np.ndarray, train: Interactions, test: Interactions, k: int = 20) -> dict[str, float]:
    """Mean ``recall@k`` and ``ndcg@k`` over the users with held-out items, and their count.

    Example:
        >>> evaluate_topk(model.predict_scores(), split.train, split.test, k=20)  # doctest: +SKIP
        {'recall@20': 0.21, 'ndcg@20': 0.09, 'users': 943}
    """
    per_user = per_user_topk(scores, train, test, k)
    return {
        f"recall@{k}": round(float(np.mean(per_user[f"recall@{k}"])), 5),
        f"ndcg@{k}": round(float(np.mean(per_user[f"ndcg@{k}"])), 5),
        "users": len(per_user["users"]),
    }
