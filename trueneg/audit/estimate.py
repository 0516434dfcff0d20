"""Estimate, for every unlabeled candidate, the probability that it is a missing positive.

Model (positive-unlabeled learning over the candidate pool): every (query, candidate) pair in the
top-``depth`` pool is an example; labeled positives have ``s = 1``, other candidates ``s = 0``
(judged negatives are known negatives and left out). Each pair is described by features that mean
the same for labeled and unlabeled pairs: the retrieval score and its gap to the query's top
score (see :func:`pool_features`). A logistic regression fit out-of-fold gives
``g(x) = P(s=1 | x)``; a label-frequency estimator (:mod:`trueneg.pu`, TIcE by default) gives
``c = P(s=1 | y=1)``; and Elkan & Noto's identity turns them into

    P(y=1 | x, s=0) = (1 - c) / c * g(x) / (1 - g(x)).

Assumption: SCAR *given the features*: the chance a positive got labeled does not depend on the
pair beyond what ``g`` sees. Retrieval qrels violate this through pooling bias ("Hard Negatives or
False Negatives", Zhou et al. 2022): judges saw only what the pooled systems ranked high, so
positives deep in the ranking are less likely labeled. The estimated probability falls with rank
because scores do (the report's pooling-bias curve), but a labeling propensity that falls with
rank is not modelled: the propensity and the class posterior are not jointly identifiable from
one set of qrels without extra assumptions. Under pooling bias the estimates of missing
positives at deep ranks are therefore too low; ``bench/false_negatives.py`` measures this with
positives hidden at random (SCAR) and preferentially at low ranks (SAR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from trueneg.candidates.pool import CandidatePool
from trueneg.mining.filters import member_of
from trueneg.pu import KM2, ElkanNoto, TIcE, oof_scores, unlabeled_posterior

ESTIMATORS = {"tice": TIcE, "elkan-noto": ElkanNoto, "km2": KM2}
FEATURES = ("score", "gap_to_top")


def pool_features(pool: CandidatePool) -> np.ndarray:
    """``(Q, K, 2)`` features of every pool pair: the score and its gap to the query's top score.

    Rank and within-query z-score were tried and dropped: labeled positives sit at rank 0 so often
    that a rank feature teaches "rank 0 = positive", and on the hidden-positives benchmark (SciFact,
    30% hidden, SCAR) they halved the average precision of the missing-positive ranking
    (0.022 vs 0.049).
    """
    valid = pool.candidates >= 0
    scores = np.where(valid, pool.scores, np.nan).astype(np.float64)
    top = np.nanmax(scores, axis=1, keepdims=True)
    return np.stack([scores, scores - top], axis=2)


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


def _population(pool: CandidatePool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of the pool: labeled positives, judged negatives, and the PU population (all but judged)."""
    valid = pool.candidates >= 0
    labeled = member_of(pool.candidates, pool.positives) & valid
    judged = member_of(pool.candidates, pool.judged_negatives) & valid & ~labeled
    return labeled, judged, valid & ~judged


def _posteriors(
    masks: tuple[np.ndarray, np.ndarray, np.ndarray], g: np.ndarray, c: float, ci: tuple[float, float], estimator: str
) -> FalseNegativeEstimate:
    """Probabilities from ``g`` over the population (``masks``: :func:`_population`) at ``c`` and its interval."""
    labeled, judged, population = masks
    s = labeled[population]
    out = []
    for value in (c, ci[1], ci[0]):  # a higher label frequency means fewer missing positives
        p = np.full(labeled.shape, np.nan)
        p[population] = np.where(s, np.nan, unlabeled_posterior(g, value))
        p[judged] = 0.0
        out.append(p)
    return FalseNegativeEstimate(out[0], out[1], out[2], labeled, c, ci, estimator)


def _fit_parts(pool: CandidatePool, estimator: str, n_bootstrap: int, seed: int) -> tuple[Any, ...]:
    """Masks, features and labels of the population, and the fitted label-frequency estimator."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {estimator!r}")
    masks = _population(pool)
    labeled, _, population = masks
    if labeled.sum() < 2:
        raise ValueError("fewer than 2 labeled positives among the retrieved candidates; cannot estimate")
    X, s = pool_features(pool)[population], labeled[population]
    kwargs = {"n_bootstrap": n_bootstrap if estimator != "km2" else min(n_bootstrap, 20), "random_state": seed}
    return masks, X, s, ESTIMATORS[estimator](**kwargs).fit(X, s)


def estimate_false_negatives(
    pool: CandidatePool, estimator: str = "tice", n_bootstrap: int = 200, seed: int = 0
) -> FalseNegativeEstimate:
    """Probability that each unlabeled candidate of ``pool`` is a missing positive (see module docstring).

    ``g`` is fit out-of-fold, so no candidate is scored by a classifier that saw its own label.

    Example:
        >>> pool = retrieve_candidates(load_beir("../shared/data/scifact"), depth=100)  # doctest: +SKIP
        >>> est = estimate_false_negatives(pool)  # doctest: +SKIP
        >>> est.rate(~est.labeled & (pool.candidates >= 0))  # doctest: +SKIP
    """
    masks, X, s, fitted = _fit_parts(pool, estimator, n_bootstrap, seed)
    g = oof_scores(LogisticRegression(max_iter=1000), X, s, folds=5, seed=seed)
    return _posteriors(masks, g, fitted.label_frequency_, tuple(fitted.label_frequency_ci_), estimator)


@dataclass
class FalseNegativeModel:
    """The estimate fit on one pool (a sample of queries), applicable to any other pool of the same retriever."""

    classifier: LogisticRegression
    label_frequency: float
    label_frequency_ci: tuple[float, float]
    estimator: str

    def predict(self, pool: CandidatePool) -> FalseNegativeEstimate:
        """Per-candidate probabilities on ``pool`` (e.g. one chunk of a streamed run)."""
        masks = _population(pool)
        g = self.classifier.predict_proba(pool_features(pool)[masks[2]])[:, 1]
        return _posteriors(masks, g, self.label_frequency, self.label_frequency_ci, self.estimator)


def fit_false_negative_model(
    pool: CandidatePool, estimator: str = "tice", n_bootstrap: int = 200, seed: int = 0
) -> FalseNegativeModel:
    """Fit ``g`` and the label frequency on ``pool`` once, to apply to other pools with ``predict``.

    This is how the streamed path (:func:`trueneg.mining.stream.mine_to_file`) scales the estimate:
    it is fit on a sample of queries and applied to every chunk, so a query's probabilities do not
    depend on which chunk it falls in.

    Example:
        >>> model = fit_false_negative_model(sample_pool)  # doctest: +SKIP
        >>> model.predict(chunk_pool).probability.shape  # doctest: +SKIP
    """
    _, X, s, fitted = _fit_parts(pool, estimator, n_bootstrap, seed)
    classifier = LogisticRegression(max_iter=1000).fit(X, s)
    return FalseNegativeModel(classifier, fitted.label_frequency_, tuple(fitted.label_frequency_ci_), estimator)
