"""Estimate, for every unlabeled candidate, the probability that it is a missing positive.

Model (positive-unlabeled learning over the candidate pool): every (query, candidate) pair in the
top-``depth`` pool is an example; labeled positives have ``s = 1``, other candidates ``s = 0``
(judged negatives are known negatives and left out). Each pair is described by features that mean
the same for labeled and unlabeled pairs: the retrieval score, its gap to the query's top score,
its z-score within the query's pool, and log rank. A logistic regression fit out-of-fold gives
``g(x) = P(s=1 | x)``; a label-frequency estimator (:mod:`trueneg.pu`, TIcE by default) gives
``c = P(s=1 | y=1)``; and Elkan & Noto's identity turns them into

    P(y=1 | x, s=0) = (1 - c) / c * g(x) / (1 - g(x)).

Assumption: SCAR *given the features*: the chance a positive got labeled does not depend on the
pair beyond what ``g`` sees. Retrieval qrels violate this through pooling bias ("Hard Negatives or
False Negatives", Zhou et al. 2022): judges saw only what the pooled systems ranked high, so
positives deep in the ranking are less likely labeled. Rank is a feature, so the estimated
probability still varies with rank (the report's pooling-bias curve), but a propensity that falls
with rank is not modelled: the propensity and the class posterior are not jointly identifiable
from one set of qrels without extra assumptions. Under pooling bias the estimates of missing
positives at deep ranks are therefore too low; ``bench/false_negatives.py`` measures this with
positives hidden at random (SCAR) and preferentially at low ranks (SAR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from trueneg.candidates.pool import CandidatePool
from trueneg.mining.filters import member_of
from trueneg.pu import KM2, ElkanNoto, TIcE, oof_scores

ESTIMATORS = {"tice": TIcE, "elkan-noto": ElkanNoto, "km2": KM2}
FEATURES = ("score", "gap_to_top", "zscore", "log_rank")


def pool_features(pool: CandidatePool) -> np.ndarray:
    """``(Q, K, 4)`` features of every pool pair: score, gap to the query's top score, z-score, log rank."""
    valid = pool.candidates >= 0
    scores = np.where(valid, pool.scores, np.nan).astype(np.float64)
    top = np.nanmax(scores, axis=1, keepdims=True)
    mean = np.nanmean(scores, axis=1, keepdims=True)
    std = np.nanstd(scores, axis=1, keepdims=True)
    rank = np.broadcast_to(np.log1p(np.arange(scores.shape[1], dtype=np.float64)), scores.shape)
    return np.stack([scores, scores - top, (scores - mean) / np.maximum(std, 1e-6), rank], axis=2)


@dataclass
class FalseNegativeEstimate:
    """Per-candidate probability of being a missing positive, with the label frequency behind it.

    ``probability`` is ``(Q, K)`` aligned with the pool's candidates: NaN for padding and labeled
    positives, 0 for judged negatives. ``probability_low``/``probability_high`` are the same
    under the ends of the label-frequency interval.
    """

    probability: np.ndarray
    probability_low: np.ndarray
    probability_high: np.ndarray
    labeled: np.ndarray
    label_frequency: float
    label_frequency_ci: tuple[float, float]
    estimator: str

    def rate(self, mask: np.ndarray) -> tuple[float, float, float]:
        """Expected share of missing positives among the pairs in ``mask``: (estimate, low, high)."""
        if not mask.any():
            return (0.0, 0.0, 0.0)
        arrays = (self.probability, self.probability_low, self.probability_high)
        return tuple(float(np.nanmean(p[mask])) for p in arrays)


def _posterior(g: np.ndarray, c: float) -> np.ndarray:
    return np.clip((1 - c) / c * g / np.maximum(1 - g, 1e-9), 0.0, 1.0)


def _anchor_odds(pool: CandidatePool, labeled: np.ndarray, unlabeled: np.ndarray, min_pairs: int, seed: int):
    """Odds that an unlabeled candidate is a positive *given how it scores against the query's positives*.

    Trained leave-one-out on queries with several labeled positives: each such positive, scored
    against the anchor (minimum score) of the query's *other* positives, is a positive example;
    the query's unlabeled candidates against the same anchor are the rest. Returns ``None`` when
    fewer than ``min_pairs`` such positives exist.
    """
    valid = pool.candidates >= 0
    base = pool_features(pool)
    scores = np.where(valid, pool.scores, np.nan)
    positive_scores = pool.per_query_positive_scores()
    rows_x, rows_y = [], []
    for q in np.flatnonzero(np.array([len(p) for p in positive_scores]) >= 2):  # a minority of queries
        for col in np.flatnonzero(labeled[q]):
            others = np.delete(positive_scores[q], np.argmin(np.abs(positive_scores[q] - scores[q, col])))
            feats = np.column_stack([scores[q] - others.min(), base[q]])
            keep = unlabeled[q].copy()
            keep[col] = True
            rows_x.append(feats[keep])
            rows_y.append(np.flatnonzero(keep) == col)
    if sum(int(y.sum()) for y in rows_y) < min_pairs:
        return None
    X, y = np.vstack(rows_x), np.concatenate(rows_y)
    model = LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(X, y)
    anchor_all = np.array([p.min() for p in positive_scores])[:, None]
    feats_all = np.concatenate([(scores - anchor_all)[..., None], base], axis=2)
    g = np.full(valid.shape, np.nan)
    g[unlabeled] = model.predict_proba(feats_all[unlabeled])[:, 1]
    return g / np.maximum(1 - g, 1e-9)


def _allocate(odds: np.ndarray, total: float) -> np.ndarray:
    """Probabilities ``min(1, lam * odds)`` with ``lam`` chosen so they sum to ``total``."""
    if total <= 0:
        return np.zeros_like(odds)
    lo, hi = 0.0, 1.0
    while np.minimum(1.0, hi * odds).sum() < total and hi < 1e12:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.minimum(1.0, mid * odds).sum() < total else (lo, mid)
    return np.minimum(1.0, hi * odds)


def estimate_false_negatives(
    pool: CandidatePool, estimator: str = "tice", n_bootstrap: int = 200, seed: int = 0, min_anchor_pairs: int = 10
) -> FalseNegativeEstimate:
    """Probability that each unlabeled candidate of ``pool`` is a missing positive (see module docstring).

    Two steps. (1) How many: PU learning over the pool (features without reference to the query's
    positives, so labeled and unlabeled pairs are described alike) gives the label frequency ``c``
    and the expected number of missing positives ``n_labeled * (1 - c) / c``. (2) Which: where at
    least ``min_anchor_pairs`` positives come from queries with several positives, a second
    classifier learns, leave-one-out, how a positive scores against the query's *other* positives
    (score minus their minimum, plus the pool features); the expected missing positives are
    distributed over candidates in proportion to its odds. Otherwise the PU posterior of step 1
    (Elkan & Noto) is used directly.

    Example:
        >>> pool = retrieve_candidates(load_beir("../shared/data/scifact"), depth=100)  # doctest: +SKIP
        >>> est = estimate_false_negatives(pool)  # doctest: +SKIP
        >>> est.rate(~est.labeled & (pool.candidates >= 0))  # doctest: +SKIP
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {estimator!r}")
    valid = pool.candidates >= 0
    labeled = member_of(pool.candidates, pool.positives) & valid
    judged = member_of(pool.candidates, pool.judged_negatives) & valid & ~labeled
    population = valid & ~judged
    unlabeled = population & ~labeled
    if labeled.sum() < 2:
        raise ValueError("fewer than 2 labeled positives among the retrieved candidates; cannot estimate")
    X = pool_features(pool)[population]
    s = labeled[population]
    g = oof_scores(LogisticRegression(max_iter=1000), X, s, folds=5, seed=seed)
    kwargs = {"n_bootstrap": n_bootstrap if estimator != "km2" else min(n_bootstrap, 20), "random_state": seed}
    fitted = ESTIMATORS[estimator](**kwargs).fit(X, s)
    c = fitted.label_frequency_
    c_low, c_high = fitted.label_frequency_ci_
    odds = _anchor_odds(pool, labeled, unlabeled, min_anchor_pairs, seed)
    out = []
    for value in (c, c_high, c_low):  # a higher label frequency means fewer missing positives
        p = np.full(valid.shape, np.nan)
        if odds is None:
            p[population] = np.where(s, np.nan, _posterior(g, value))
        else:
            p[unlabeled] = _allocate(odds[unlabeled], labeled.sum() * (1 - value) / value)
        p[judged] = 0.0
        out.append(p)
    return FalseNegativeEstimate(out[0], out[1], out[2], labeled, c, (c_low, c_high), estimator)
