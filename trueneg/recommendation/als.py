"""Alternating least squares with false-negative-aware relabeling, on top of ``implicit``'s ALS.

``implicit``'s ALS (Hu, Koren & Volinsky, 2008) fits preference 1 with confidence ``1 + alpha * r`` on
the interactions and preference 0 with confidence 1 on every other (user, item) pair: every unseen
item is a negative with the same weight. :class:`FalseNegativeAwareALS` first estimates, for every
unseen pair, the probability that it is a *missing positive* (the PU model of
:mod:`trueneg.recommendation.missing`: leave-one-pair-out item-kNN affinity, popularity, activity,
with a label frequency from :mod:`trueneg.pu`), then relabels each user's ``relabel_top`` most
likely missing positives as weak positives: preference 1 with confidence ``1 + alpha *
relabel_value`` (the recommendation analogue of relabeling hard negatives). ``implicit``'s
confidence matrix expresses exactly this; lowering the weight of a *zero* below 1 (keeping
preference 0) is what it cannot express, and was not needed: measured on ML-100K, relabeling the
top 2–5 per user is what helps (``bench/recommendation.py``). With ``fn_weighting=False`` the model
is ``implicit``'s ALS as it is.

Example:
    >>> log = load_interactions("../shared/data/ml-100k")  # doctest: +SKIP
    >>> model = FalseNegativeAwareALS().fit(log)  # doctest: +SKIP
    >>> items, scores = model.recommend([0, 1], n=10)  # doctest: +SKIP
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from trueneg.recommendation.data import Interactions
from trueneg.recommendation.metrics import top_k
from trueneg.recommendation.missing import missing_order, relabel_matrix
from trueneg.validation import check_range, require_extra


def weak_positives(model: Any, train: Interactions, order: np.ndarray | None = None) -> sp.csr_matrix | None:
    """``model``'s relabeled pairs: each user's ``relabel_top`` likeliest missing positives valued
    ``relabel_value`` (None when ``fn_weighting`` is off). ``order``: a precomputed :func:`missing_order`."""
    if not model.fn_weighting or model.relabel_top == 0:
        return None
    if order is None or order.shape[1] < min(model.relabel_top, train.n_items):
        order = missing_order(train, model.relabel_top, model.sample_size, model.seed)
    return relabel_matrix(order, model.relabel_top, model.relabel_value, train.n_items)


class FalseNegativeAwareALS(BaseEstimator):
    """``implicit`` ALS whose most likely missing positives are relabeled as weak positives.

    Args:
        factors / regularization / alpha / iterations: ``implicit.als.AlternatingLeastSquares``'s.
        fn_weighting: relabel likely missing positives (default); False is plain ``implicit`` ALS.
        relabel_top: missing positives relabeled per user, most probable first.
        relabel_value: their interaction value (confidence ``1 + alpha * relabel_value``).
        sample_size: pairs the PU classifier is fit on (its ``g`` orders each user's unlabeled items;
            the label frequency is not needed for an order).
        seed: seed of the factors and of the PU model's sample. num_threads: ALS threads.

    Attributes (after ``fit``): ``user_factors_``, ``item_factors_``, ``relabeled_`` (count),
    ``train_`` (the interactions fit on), ``fit_seconds_``.
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.1,
        alpha: float = 1.0,
        iterations: int = 15,
        fn_weighting: bool = True,
        relabel_top: int = 2,
        relabel_value: float = 0.1,
        sample_size: int = 30_000,
        seed: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.fn_weighting = fn_weighting
        self.relabel_top = relabel_top
        self.relabel_value = relabel_value
        self.sample_size = sample_size
        self.seed = seed
        self.num_threads = num_threads

    def fit(self, train: Interactions, relabel_order: np.ndarray | None = None) -> FalseNegativeAwareALS:
        """Estimate the missing positives (with ``fn_weighting``), relabel, and fit ALS on ``train``.

        ``relabel_order``: each user's likeliest missing positives of ``train`` already computed by
        :func:`~trueneg.recommendation.missing.missing_order` (the validation choice shares one).
        """
        require_extra("implicit", "als", "the ALS model")
        from implicit.cpu.als import AlternatingLeastSquares

        check_range("factors", self.factors, low=1, integer=True)
        check_range("iterations", self.iterations, low=1, integer=True)
        check_range("relabel_top", self.relabel_top, low=0, integer=True)
        check_range("relabel_value", self.relabel_value, low=0.0, low_open=True)
        check_range("alpha", self.alpha, low=0.0, low_open=True)
        check_range("regularization", self.regularization, low=0.0)
        if len(train) == 0:
            raise ValueError("no training interactions")
        start = time.perf_counter()
        matrix = train.matrix().tocsr().astype(np.float32)
        weak = weak_positives(self, train, relabel_order)
        self.relabeled_ = int(weak.nnz) if weak is not None else 0
        if weak is not None:
            matrix = (matrix + weak).tocsr()
        with threadpool_limits(1, "blas"):  # implicit's own threads do the work; BLAS threads only contend
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.seed, num_threads=self.num_threads,
            )  # fmt: skip
            model.fit(matrix, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors)
        self.item_factors_ = np.asarray(model.item_factors)
        self.train_ = train
        self.fit_seconds_ = round(time.perf_counter() - start, 3)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "user_factors_"):
            raise ValueError("this FalseNegativeAwareALS is not fitted yet; call fit first")

    def predict_scores(self) -> np.ndarray:
        """``(n_users, n_items)`` scores (the layout :func:`~trueneg.recommendation.evaluate_topk` reads)."""
        self._check_fitted()
        return self.user_factors_ @ self.item_factors_.T

    def score(self) -> np.ndarray:
        """Deprecated name of :meth:`predict_scores` (scikit-learn's ``score`` is a scalar metric)."""
        warnings.warn("FalseNegativeAwareALS.score() is deprecated: use predict_scores()", DeprecationWarning,
                      stacklevel=2)  # fmt: skip
        return self.predict_scores()

    def recommend(self, users: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items (indices into the log's item ids) and scores per user, interacted items excluded."""
        self._check_fitted()
        check_range("n", n, low=1, integer=True)
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if len(users) and (users.min() < 0 or users.max() >= self.train_.n_users):
            raise ValueError(f"users must be indices in [0, {self.train_.n_users}), got {users.min()}..{users.max()}")
        unique, inverse = np.unique(users, return_inverse=True)
        scores = np.zeros((self.train_.n_users, self.train_.n_items), dtype=np.float32)
        scores[unique] = self.user_factors_[unique] @ self.item_factors_.T  # only the users asked for
        items = top_k(scores, self.train_, unique, min(n, self.train_.n_items))[inverse]
        return items, np.einsum("ud,uid->ui", self.user_factors_[users], self.item_factors_[items])
