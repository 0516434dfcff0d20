"""EASE (Steck, 2019): closed-form item-item regression, the strongest simple baseline for implicit feedback.

EASE learns an item-item weight matrix ``B`` with a zero diagonal that reconstructs the interaction
matrix ``X`` (``min ||X - XB||² + λ||B||²``, ``diag(B) = 0``), in closed form from the Gram matrix:
``P = (XᵀX + λI)⁻¹``, ``B = I - P · diag(1 / diag(P))``. Scores are ``XB``. Like ALS it treats
every unseen pair as a zero; with ``fn_weighting`` each user's ``relabel_top`` likeliest missing
positives (the PU model of :mod:`trueneg.recommendation.missing`) enter ``X`` as weak positives
``relabel_value``, as in :class:`~trueneg.recommendation.als.FalseNegativeAwareALS`.

The Gram matrix is dense, ``n_items²`` float64 values held about three times during the solve:
:class:`EASE` refuses before any work when that exceeds half of this machine's memory.

Example:
    >>> from trueneg.recommendation.data import Interactions
    >>> import numpy as np
    >>> log = Interactions(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]), None, None,
    ...                    np.array(["a", "b", "c"]), np.array(["x", "y", "z"]))
    >>> model = EASE(l2=1.0).fit(log)
    >>> bool(model.predict_scores()[2, 2] == 0.0)  # an item never predicts itself
    True
"""

from __future__ import annotations

import os
import time

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from trueneg.recommendation.als import weak_positives
from trueneg.recommendation.data import Interactions, physical_memory
from trueneg.validation import check_range

GRAM_COPIES = 3  # the Gram matrix, its inverse and B live at once during the solve


def check_ease_memory(n_items: int, budget: int | None = None) -> None:
    """Raise ``ValueError`` when EASE's dense ``n_items x n_items`` solve exceeds ``budget`` (half the memory)."""
    budget = physical_memory() // 2 if budget is None else budget
    need = GRAM_COPIES * 8 * n_items**2
    if need > budget:
        fits = int((budget / (GRAM_COPIES * 8)) ** 0.5)
        raise ValueError(
            f"EASE needs about {need / 2**30:.1f} GiB for its {n_items} x {n_items} item-item matrix, more than "
            f"half of this machine's memory ({budget / 2**30:.1f} GiB); it fits up to about {fits} items: keep "
            "the most popular items, or use --model als"
        )


class EASE(BaseEstimator):
    """Closed-form item-item regression (see the module docstring), optionally with relabeled missing positives.

    Args:
        l2: the ridge penalty λ (Steck reports 200-1000 on MovieLens-sized logs; ``train_recommender``
            chooses it on validation by default).
        fn_weighting: relabel each user's ``relabel_top`` likeliest missing positives as weak
            positives ``relabel_value`` before the solve.
        sample_size / seed: the PU model's sample of pairs and seed.

    Attributes (after ``fit``): ``weights_`` (``B``), ``relabeled_``, ``train_``, ``fit_seconds_``.
    """

    def __init__(
        self,
        l2: float = 500.0,
        fn_weighting: bool = False,
        relabel_top: int = 2,
        relabel_value: float = 0.1,
        sample_size: int = 30_000,
        seed: int = 0,
    ) -> None:
        self.l2 = l2
        self.fn_weighting = fn_weighting
        self.relabel_top = relabel_top
        self.relabel_value = relabel_value
        self.sample_size = sample_size
        self.seed = seed

    def fit(self, train: Interactions, relabel_order: np.ndarray | None = None) -> EASE:
        """Solve for ``B`` on ``train`` (plus its relabeled pairs with ``fn_weighting``)."""
        check_range("l2", self.l2, low=0.0, low_open=True)
        check_range("relabel_top", self.relabel_top, low=0, integer=True)
        check_range("relabel_value", self.relabel_value, low=0.0, low_open=True)
        if len(train) == 0:
            raise ValueError("no training interactions")
        check_ease_memory(train.n_items)
        start = time.perf_counter()
        matrix = train.matrix().tocsr().astype(np.float64)
        matrix.data[:] = 1.0
        weak = weak_positives(self, train, relabel_order)
        self.relabeled_ = int(weak.nnz) if weak is not None else 0
        if weak is not None:
            matrix = (matrix + weak).tocsr()
        gram = (matrix.T @ matrix).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        with threadpool_limits(min(2, os.cpu_count() or 1), "blas"):
            inverse = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        weights = -inverse / np.diag(inverse)[None, :]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_ = weights.astype(np.float32)
        self.matrix_ = matrix.astype(np.float32)
        self.train_ = train
        self.fit_seconds_ = round(time.perf_counter() - start, 3)
        return self

    def predict_scores(self) -> np.ndarray:
        """``(n_users, n_items)`` scores ``XB`` (the layout :func:`~trueneg.recommendation.evaluate_topk` reads)."""
        if not hasattr(self, "weights_"):
            raise ValueError("this EASE is not fitted yet; call fit first")
        return np.asarray(self.matrix_ @ self.weights_)
