"""Probability that an unlabeled (user, item) pair is a missing positive, from PU learning.

Every (user, item) pair is an example: ``s = 1`` when the user interacted with the item, else
unlabeled. Each pair is described by three features that mean the same for labeled and
unlabeled pairs because they are computed **as if the pair itself were not in the log**
(leave-one-pair-out):

- ``knn``: item-kNN affinity, ``sum_{j in I_u, j != i} C_ij / sqrt(n_i n_j)`` with ``C`` the item
  co-occurrence counts and ``n`` the popularities, all without the pair (u, i);
- ``popularity``: the item's interaction count without the pair: a proxy for exposure;
- ``activity``: the user's interaction count without the pair.

A logistic regression on a uniform random sample of all pairs gives ``g(x) = P(s=1 | x)``; a
label-frequency estimator from :mod:`trueneg.pu` (TIcE by default) gives ``c = P(s=1 | y=1)``; and
the Elkan–Noto identity (:func:`trueneg.pu.unlabeled_posterior`) turns them into
``P(y=1 | x, s=0) = (1 - c) / c * g / (1 - g)``. The score of a matrix-factorisation model is not a
feature on purpose: the model was fit to the labeled pairs, so their scores are inflated
(memorized) while the unlabeled pairs' are not, and ``g`` would learn that gap instead of
relevance. The leave-one-pair-out kNN score has no such gap (tested: a labeled pair's features
equal those of the same pair left out of the log).

Assumption: SCAR given the features (popularity enters as a feature, not as a separate
propensity). Cost: the item-item matrix is dense, ``n_items**2`` floats: fine to ~30k items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from trueneg.io import RecordsResult
from trueneg.pu import ESTIMATORS, label_frequency_estimator, unlabeled_posterior
from trueneg.recommendation.data import Interactions
from trueneg.validation import check_range

FEATURES = ("knn", "popularity", "activity")


class PairFeatures:
    """Leave-one-pair-out features of (user, item) pairs of one interaction log (see module docstring)."""

    def __init__(self, data: Interactions) -> None:
        self.R = data.matrix()
        self.popularity = np.asarray(self.R.sum(0)).ravel()
        self.activity = np.asarray(self.R.sum(1)).ravel()
        d = 1.0 / np.sqrt(np.maximum(self.popularity, 1.0))
        co = (self.R.T @ self.R).toarray().astype(np.float32)
        self.M = (d[:, None] * co).astype(np.float32)  # M[j, i] = d_j C_ji
        self.d = d.astype(np.float32)
        self.user_d = np.asarray(self.R @ d).ravel()  # sum_{j in I_u} d_j

    def rows(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features ``(B, n_items, 3)`` for every item of ``users``, and the labeled mask ``(B, n_items)``."""
        R = self.R[users]
        labeled = R.toarray().astype(bool)
        A = np.asarray(R @ self.M, dtype=np.float32)
        r = labeled.astype(np.float32)
        pop = self.popularity[None, :] - r
        # leave (u, i) out: drop j = i (d_i * C_ii = sqrt(n_i)) and one co-occurrence with every other j in I_u
        A -= r * (np.sqrt(self.popularity)[None, :] + self.user_d[users][:, None] - self.d[None, :])
        knn = np.where(pop > 0, np.maximum(A, 0) / np.sqrt(np.maximum(pop, 1)), 0.0)
        act = self.activity[users][:, None] - r
        return np.log1p(np.stack([knn, pop, np.broadcast_to(act, pop.shape)], axis=2)).astype(np.float32), labeled

    def pairs(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features ``(n, 3)`` and labeled flags of the given pairs (computed per distinct user)."""
        uniq, inverse = np.unique(users, return_inverse=True)
        X = np.empty((len(users), len(FEATURES)), dtype=np.float32)
        s = np.empty(len(users), dtype=bool)
        for start in range(0, len(uniq), 512):
            block = np.flatnonzero((inverse >= start) & (inverse < start + 512))
            feats, labeled = self.rows(uniq[start : start + 512])
            X[block] = feats[inverse[block] - start, items[block]]
            s[block] = labeled[inverse[block] - start, items[block]]
        return X, s


@dataclass
class MissingPositiveModel:
    """Fitted PU model: ``probability(users)`` gives ``P(missing positive)`` for every item of those users."""

    features: PairFeatures
    classifier: LogisticRegression
    label_frequency: float
    label_frequency_ci: tuple[float, float]
    estimator: str
    _matrix: np.ndarray | None = field(default=None, repr=False)

    def probability(self, users: np.ndarray, label_frequency: float | None = None) -> np.ndarray:
        """``(B, n_items)`` probabilities; NaN for labeled pairs."""
        g = affinity(self.features, self.classifier, users)
        p = unlabeled_posterior(np.nan_to_num(g), self.label_frequency if label_frequency is None else label_frequency)
        return np.where(np.isnan(g), np.nan, p).astype(np.float32)

    def probability_matrix(self, chunk: int = 512) -> np.ndarray:
        """``(n_users, n_items)`` probabilities (NaN for labeled pairs), computed ``chunk`` users at a time.

        Computed once and kept: the audit, the fn-aware sampler and the suspect ranking all read it.
        """
        if self._matrix is None:
            n = len(self.features.activity)
            self._matrix = np.concatenate(
                [self.probability(np.arange(s, min(s + chunk, n))) for s in range(0, n, chunk)]
            )
        return self._matrix


def fit_affinity(
    data: Interactions, sample_size: int = 200_000, seed: int = 0
) -> tuple[PairFeatures, LogisticRegression, np.ndarray, np.ndarray]:
    """The features of ``data`` and ``g = P(s=1 | x)`` fit on a uniform sample of pairs (plus the sample).

    ``g`` alone orders a user's unlabeled items as the missing-positive probability does (the
    posterior is increasing in ``g``): enough where only the order matters, without the label
    frequency's cost.
    """
    features = PairFeatures(data)
    rng = np.random.default_rng(seed)
    total = data.n_users * data.n_items
    codes = rng.choice(total, size=min(sample_size, total), replace=False)
    X, s = features.pairs(codes // data.n_items, codes % data.n_items)
    short = [f"{what} (got {got})" for what, got in (
        ("2 user-item pairs with an interaction", int(s.sum())),
        ("2 pairs without one (unlabeled)", int((~s).sum())),
    ) if got < 2]  # fmt: skip
    if short:
        raise ValueError(
            f"{data.source}: {data.n_users} users x {data.n_items} items with {len(data)} interactions: the "
            f"missing-positive model needs at least {' and '.join(short)} among the {len(s)} pairs it samples; a "
            "log where every user has interacted with every item has nothing to estimate"
        )
    return features, LogisticRegression(max_iter=1000).fit(X, s), X, s


def affinity(features: PairFeatures, classifier: LogisticRegression, users: np.ndarray) -> np.ndarray:
    """``(B, n_items)`` ``g = P(s=1 | x)`` of every item of ``users``; NaN for their labeled pairs."""
    X, labeled = features.rows(np.asarray(users))
    g = classifier.predict_proba(X.reshape(-1, X.shape[2]))[:, 1].reshape(labeled.shape)
    return np.where(labeled, np.nan, g).astype(np.float32)


def fit_missing_positives(
    data: Interactions, estimator: str = "tice", sample_size: int = 200_000, n_bootstrap: int = 50, seed: int = 0
) -> MissingPositiveModel:
    """Fit the PU model of the module docstring on ``data``.

    ``g`` and ``c`` are fit on a uniform random sample of ``sample_size`` (user, item) pairs, which
    keeps the population's ``P(s=1 | x)`` unbiased while bounding the cost on large logs.

    Example:
        >>> model = fit_missing_positives(load_interactions("../shared/data/ml-100k"))  # doctest: +SKIP
        >>> model.probability([0]).shape  # doctest: +SKIP
        (1, 1682)
    """
    fitted_estimator = label_frequency_estimator(estimator, n_bootstrap, seed)  # checks the name first
    features, classifier, X, s = fit_affinity(data, sample_size, seed)
    fitted = fitted_estimator.fit(X, s)
    return MissingPositiveModel(features, classifier, fitted.label_frequency_, fitted.label_frequency_ci_, estimator)


@dataclass
class MissingPositives(RecordsResult):
    """Unlabeled (user, item) pairs ranked by the probability that they are missing positives.

    The shared result vocabulary: ``to_records()`` (``{"user", "item", "probability"}`` with the log's
    ids when known, else row/column indices), ``to_dict()``, ``write(path)``.
    """

    users: np.ndarray
    items: np.ndarray
    probability: np.ndarray
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    records_key = "suspects"

    def to_records(self, data: Interactions | None = None) -> list[dict[str, object]]:
        """One dict per pair, most likely first (``data``: the log whose ids to use; deprecated, kept)."""
        user_ids = data.user_ids if data is not None else self.user_ids
        item_ids = data.item_ids if data is not None else self.item_ids
        users = self.users if user_ids is None else np.asarray(user_ids)[self.users]
        items = self.items if item_ids is None else np.asarray(item_ids)[self.items]
        return [
            {"user": str(u), "item": str(i), "probability": round(float(p), 6)}
            for u, i, p in zip(users, items, self.probability)
        ]


def find_missing_positives(
    model: MissingPositiveModel, top: int = 100, data: Interactions | None = None
) -> MissingPositives:
    """The ``top`` unlabeled pairs most likely to be missing positives, most likely first.

    ``data`` (the log ``model`` was fit on) puts its user and item ids in the records.
    """
    p = np.nan_to_num(model.probability_matrix(), nan=-1.0).ravel()
    keep = np.argpartition(-p, min(top, len(p) - 1))[:top]
    keep = keep[np.lexsort((keep, -p[keep]))]
    keep = keep[p[keep] >= 0]
    n_items = model.features.R.shape[1]
    ids = (None, None) if data is None else (data.user_ids, data.item_ids)
    return MissingPositives(keep // n_items, keep % n_items, p[keep], *ids)


def pair_membership(data: Interactions, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Boolean mask: the pair ``(users[k], items[k])`` is an interaction of ``data``."""
    keys = data.keys()
    codes = np.asarray(users, dtype=np.int64) * data.n_items + np.asarray(items, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, codes), max(len(keys) - 1, 0))
    return (keys[pos] == codes) if len(keys) else np.zeros(codes.shape, dtype=bool)


def average_precision(found: np.ndarray, total: int) -> float:
    """Average precision of a ranked list whose hits are ``found``, out of ``total`` relevant pairs."""
    if total == 0:
        return 0.0
    hits = np.cumsum(found)
    return float((hits / np.arange(1, len(found) + 1))[found].sum() / total)


__all__ = [
    "ESTIMATORS",
    "FEATURES",
    "MissingPositiveModel",
    "MissingPositives",
    "PairFeatures",
    "average_precision",
    "find_missing_positives",
    "fit_missing_positives",
    "pair_membership",
]


def missing_order(train: Interactions, top: int, sample_size: int = 30_000, seed: int = 0) -> np.ndarray:
    """``(n_users, top)`` each user's likeliest missing positives, most likely first (-1 where fewer exist).

    Only the order of each user's unlabeled items matters here, and ``g`` orders them as the posterior
    does, so the label frequency (and its cost) is skipped. Computed once and cut to any smaller ``top``
    (:func:`relabel_matrix`), which is how the validation choice tries several counts for one fit.
    """
    check_range("top", top, low=1, integer=True)
    features, classifier, _, _ = fit_affinity(train, sample_size, seed)
    users = np.arange(train.n_users)
    k = min(top, train.n_items)
    out = np.full((train.n_users, k), -1, dtype=np.int64)
    for start in range(0, len(users), 512):
        rows = users[start : start + 512]
        g = np.nan_to_num(affinity(features, classifier, rows), nan=-1.0)  # labeled pairs: never picked
        part = np.argpartition(-g, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(g, part, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        part, values = np.take_along_axis(part, order, axis=1), np.take_along_axis(values, order, axis=1)
        out[rows] = np.where(values >= 0, part, -1)
    return out


def relabel_matrix(order: np.ndarray, top: int, value: float, n_items: int) -> sp.csr_matrix:
    """The first ``top`` items of each row of ``order`` (from :func:`missing_order`) as weak positives ``value``."""
    picked = order[:, :top]
    rows = np.broadcast_to(np.arange(len(order))[:, None], picked.shape)
    keep = picked >= 0
    values = np.full(int(keep.sum()), value, dtype=np.float32)
    return sp.csr_matrix((values, (rows[keep], picked[keep])), shape=(len(order), n_items))
