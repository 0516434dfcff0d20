"""Class-prior and label-frequency estimators for positive-unlabeled (PU) data.

Setting: features ``X`` and a label indicator ``s`` (1 = labeled positive, 0 = unlabeled). Under
SCAR (selected completely at random) every positive is labeled with the same probability, the
*label frequency* ``c = P(s=1 | y=1)``. From ``c`` follow the prior of positives
``pi = P(y=1) = P(s=1) / c`` and the share of positives hidden in the unlabeled set,
``unlabeled_prior = (n_labeled / c - n_labeled) / n_unlabeled``.

Three estimators, each a scikit-learn style estimator (parameters in ``__init__``, work in
``fit``, results in attributes ending in ``_``), each with a bootstrap confidence interval:

- :class:`ElkanNoto` (Elkan & Noto, 2008): ``c`` = mean out-of-fold ``P(s=1|x)`` over labeled examples.
- :class:`TIcE` (Bekker & Davis, 2018, tree induction for ``c`` estimation): ``c`` is at least the
  labeled share of any subset of the data, minus a finite-sample correction; subsets are the nested
  top-scoring sets of an out-of-fold classifier (the purest subsets a tree would find), and the
  estimate is the largest corrected lower bound.
- :class:`ROCTail` (Scott, 2015; Blanchard, Lee & Scott, 2010): the share of positives in the
  unlabeled set is at most, for any threshold ``t`` of an out-of-fold classifier, the unlabeled
  tail above ``t`` divided by the labeled tail above ``t``; the estimate is the smallest ratio over
  thresholds that keep at least ``min_tail`` of the labeled examples above them.
- :class:`KM2` (Ramaswamy, Scott & Tewari, 2016): the mixture proportion of positives in the
  unlabeled sample from kernel mean embeddings: the largest ``lambda`` for which
  ``lambda * mu_U + (1 - lambda) * mu_L`` stays inside the convex hull of the sample's feature
  maps, found as the knee of the RKHS distance curve.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(2, 1, (600, 2)), rng.normal(-2, 1, (900, 2))]
    >>> y = np.r_[np.ones(600), np.zeros(900)]
    >>> s = (y == 1) & (rng.random(1500) < 0.5)
    >>> est = ElkanNoto(n_bootstrap=20).fit(X, s)
    >>> bool(abs(est.label_frequency_ - 0.5) < 0.1)
    True
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted, validate_data


def _check_labels(s: np.ndarray) -> np.ndarray:
    """``s`` as booleans (non-zero = labeled); PU estimation needs both labeled and unlabeled examples."""
    s = np.asarray(s).astype(bool).ravel()
    if s.sum() < 2 or (~s).sum() < 2:
        raise ValueError(f"need at least 2 labeled and 2 unlabeled examples, got {s.sum()} and {(~s).sum()}")
    return s


class _LabelFrequencyEstimator(BaseEstimator):
    """Shared fit: ``_prepare`` once, estimate ``c`` on all rows, then on bootstrap resamples of the rows."""

    n_bootstrap: int
    confidence: float
    seed: int

    def _prepare(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Per-example state the estimate is computed from (default: the features)."""
        return X

    def _estimate(self, state: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> float:
        raise NotImplementedError

    def fit(self, X: np.ndarray, y: np.ndarray) -> _LabelFrequencyEstimator:
        """Estimate the label frequency ``c``, the priors, and their bootstrap intervals.

        ``X`` is ``(n_samples, n_features)`` (dense, finite); ``y`` the observed labels ``s``
        (1 = labeled positive, 0 = unlabeled), with at least two of each.
        """
        if not issparse(X) and hasattr(X, "__len__") and hasattr(y, "__len__") and len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but s has {len(y)} labels")
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, ensure_min_samples=4)
        s = _check_labels(y)
        rng = np.random.default_rng(self.seed)
        state = self._prepare(X, s)
        self.label_frequency_ = float(np.clip(self._estimate(state, s, rng), s.mean(), 1.0))
        boots = []
        for _ in range(self.n_bootstrap):
            idx = rng.integers(0, len(s), len(s))
            if s[idx].sum() >= 2 and (~s[idx]).sum() >= 2:
                boots.append(float(np.clip(self._estimate(state[idx], s[idx], rng), s[idx].mean(), 1.0)))
        self.bootstrap_ = np.array(boots)
        alpha = (1 - self.confidence) / 2
        low, high = (float(q) for q in np.quantile(boots, [alpha, 1 - alpha])) if boots else (np.nan, np.nan)
        self.label_frequency_ci_ = (low, high)
        n_l, n_u = int(s.sum()), int((~s).sum())
        self.prior_ = _prior(self.label_frequency_, n_l, n_u)
        self.prior_ci_ = (_prior(high, n_l, n_u), _prior(low, n_l, n_u))
        self.unlabeled_prior_ = _unlabeled_prior(self.label_frequency_, n_l, n_u)
        self.unlabeled_prior_ci_ = (_unlabeled_prior(high, n_l, n_u), _unlabeled_prior(low, n_l, n_u))
        return self


def _prior(c: float, n_l: int, n_u: int) -> float:
    """``P(y=1)`` over all examples given label frequency ``c``."""
    return float(min(1.0, n_l / c / (n_l + n_u)))


def _unlabeled_prior(c: float, n_l: int, n_u: int) -> float:
    """Share of positives among the unlabeled examples given label frequency ``c``."""
    return float(np.clip((n_l / c - n_l) / n_u, 0.0, 1.0))


def unlabeled_posterior(g: np.ndarray, c: float) -> np.ndarray:
    """Elkan–Noto: ``P(y=1 | x, s=0) = (1 - c) / c * g / (1 - g)`` from ``g = P(s=1 | x)`` and label frequency ``c``."""
    return np.clip((1 - c) / c * g / np.maximum(1 - g, 1e-9), 0.0, 1.0)


def _classifier(estimator: BaseEstimator | None) -> BaseEstimator:
    return clone(estimator) if estimator is not None else LogisticRegression(max_iter=1000)


def oof_scores(
    estimator: BaseEstimator | None, X: np.ndarray, s: np.ndarray, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Out-of-fold ``P(s=1 | x)`` of a probabilistic classifier (logistic regression by default)."""
    cv = StratifiedKFold(n_splits=max(2, min(folds, int(s.sum()), int((~s).sum()))), shuffle=True, random_state=seed)
    return cross_val_predict(_classifier(estimator), X, s, cv=cv, method="predict_proba")[:, 1]


class ElkanNoto(_LabelFrequencyEstimator):
    """Elkan–Noto estimator: ``c`` = mean out-of-fold ``P(s=1|x)`` over the labeled examples.

    Also a PU classifier: :meth:`predict_proba` gives ``P(y=1|x) = P(s=1|x) / c``. The bootstrap
    resamples one cross-fitted score vector (no refits): it captures the sampling noise of the
    average, not the classifier's variance.

    Args:
        estimator: probabilistic classifier for ``P(s=1|x)``; default logistic regression.
        folds: cross-fitting folds. n_bootstrap / confidence: bootstrap interval.
        seed: seed of the folds and the bootstrap.
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        folds: int = 5,
        n_bootstrap: int = 200,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.estimator = estimator
        self.folds = folds
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.seed = seed

    def _prepare(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        self.classifier_ = _classifier(self.estimator).fit(X, s)
        return oof_scores(self.estimator, X, s, self.folds, self.seed)

    def _estimate(self, state: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> float:
        return float(state[s].mean())

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``P(y=1 | x)`` under SCAR, clipped to [0, 1]."""
        check_is_fitted(self, "classifier_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.clip(self.classifier_.predict_proba(X)[:, 1] / self.label_frequency_, 0.0, 1.0)


class _ScoreBased(_LabelFrequencyEstimator):
    """Estimators computed from an out-of-fold classifier score of every example."""

    estimator: BaseEstimator | None
    folds: int

    def _prepare(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        return oof_scores(self.estimator, X, s, self.folds, self.seed)


class TIcE(_ScoreBased):
    """TIcE-style lower-bound estimator of the label frequency.

    For every nested subset ``S_m`` = the ``m`` examples with the highest out-of-fold score,
    ``c >= L(S_m) / m - sqrt(log(1/delta) / (2 m))`` (a Hoeffding bound); the estimate is the
    largest of these bounds over ``m >= min_subset``. Ordering examples by a classifier and taking
    its top sets stands in for the original's tree search for label-rich subsets.

    Args:
        estimator: classifier that orders examples; default logistic regression.
        delta: confidence of each lower bound. min_subset: smallest subset considered.
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        delta: float = 0.1,
        min_subset: int = 20,
        folds: int = 5,
        n_bootstrap: int = 200,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.estimator = estimator
        self.delta = delta
        self.min_subset = min_subset
        self.folds = folds
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.seed = seed

    def _estimate(self, state: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> float:
        order = np.argsort(-state, kind="stable")
        m = np.arange(1, len(s) + 1)
        bounds = np.cumsum(s[order]) / m - np.sqrt(np.log(1 / self.delta) / (2 * m))
        bounds[: min(self.min_subset, len(s)) - 1] = -np.inf
        return float(bounds.max())


class ROCTail(_ScoreBased):
    """Label frequency from the smallest unlabeled-to-labeled tail ratio of an out-of-fold score.

    Labeled examples are a random sample of the positives (SCAR), so above any threshold ``t`` the
    unlabeled set holds at most ``kappa(t) = P(score_U >= t) / P(score_L >= t)`` positives per unlabeled
    example; where only positives score above ``t`` the bound is tight. The estimate is
    ``kappa = min_t kappa(t)`` over thresholds with at least ``min_tail`` of the labeled examples (and
    at least 10) above them, and ``c = n_L / (n_L + kappa * n_U)``. Unlike TIcE's Hoeffding-corrected
    lower bound it does not need a large pure subset, which retrieval pools with a few labeled
    positives per query rarely have (``bench/false_negatives_classic.py``: TIcE gave ``c`` 0.10-0.18
    where the truth was 0.26; this estimator 0.16-0.27).

    Args:
        estimator: classifier that scores examples; default logistic regression.
        min_tail: smallest share of the labeled examples above a threshold.
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        min_tail: float = 0.1,
        folds: int = 5,
        n_bootstrap: int = 200,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.estimator = estimator
        self.min_tail = min_tail
        self.folds = folds
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.seed = seed

    def _estimate(self, state: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> float:
        labeled = np.sort(state[s])[::-1]
        unlabeled = np.sort(state[~s])
        n_l, n_u = len(labeled), len(unlabeled)
        k = np.arange(max(int(np.ceil(self.min_tail * n_l)), min(10, n_l)), n_l + 1)
        above_u = n_u - np.searchsorted(unlabeled, labeled[k - 1], side="left")
        kappa = float(np.clip((above_u / n_u) / (k / n_l), 0.0, 1.0).min())
        return float(n_l / (n_l + kappa * n_u))


class KM2(_LabelFrequencyEstimator):
    """KM2 mixture-proportion estimator with a Gaussian kernel (median-distance bandwidth).

    Estimates ``kappa`` = the share of positives in the unlabeled sample, then
    ``c = n_L / (n_L + kappa * n_U)``. Each side is subsampled to ``max_samples`` examples to keep
    the kernel matrix small; every bootstrap round solves the problem again, so keep
    ``n_bootstrap`` modest.

    Args:
        max_samples: cap on labeled and on unlabeled examples. grid: number of lambda values.
        iterations: Frank–Wolfe iterations per distance.
    """

    def __init__(
        self,
        max_samples: int = 300,
        grid: int = 40,
        iterations: int = 200,
        n_bootstrap: int = 20,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.max_samples = max_samples
        self.grid = grid
        self.iterations = iterations
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.seed = seed

    def _estimate(self, state: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> float:
        kappa = self.mixture_proportion(state[~s], state[s], rng)
        n_l, n_u = s.sum(), (~s).sum()
        return float(n_l / (n_l + kappa * n_u))

    def mixture_proportion(self, mixture: np.ndarray, component: np.ndarray, rng: np.random.Generator) -> float:
        """Share of ``component``'s distribution inside ``mixture`` (kappa), at the KM2 knee."""
        if len(mixture) > self.max_samples:
            mixture = mixture[rng.choice(len(mixture), self.max_samples, replace=False)]
        if len(component) > self.max_samples:
            component = component[rng.choice(len(component), self.max_samples, replace=False)]
        Z = np.vstack([mixture, component])
        sq = (Z**2).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * Z @ Z.T, 0)
        K = np.exp(-d2 / np.median(d2[d2 > 0]))
        n_f = len(mixture)
        mu_f = np.r_[np.full(n_f, 1 / n_f), np.zeros(len(component))]
        mu_h = np.r_[np.zeros(n_f), np.full(len(component), 1 / len(component))]
        lambdas = np.linspace(1.0, 6.0, self.grid)
        dist = np.array([self._hull_distance(K, lam * mu_f + (1 - lam) * mu_h) for lam in lambdas])
        # d(lambda) stays ~0 while lambda*F + (1-lambda)*H is a distribution, then grows about
        # linearly; KM2 takes the knee, where the slope changes most.
        slopes = np.diff(dist) / np.diff(lambdas)
        knee = int(np.argmax(np.diff(slopes))) + 1
        return float(np.clip(1 - 1 / lambdas[knee], 0.0, 1.0))

    def _hull_distance(self, K: np.ndarray, target: np.ndarray) -> float:
        """RKHS distance from the point with coefficients ``target`` to the sample's convex hull (Frank–Wolfe)."""
        w = np.full(len(K), 1 / len(K))
        Kt = K @ target
        Kw = K @ w
        for _ in range(self.iterations):
            grad = Kw - Kt
            j = int(np.argmin(grad))
            towards = K[:, j] - Kw
            curvature = w @ Kw - 2 * Kw[j] + K[j, j]
            step = float(np.clip((w @ grad - grad[j]) / curvature, 0.0, 1.0)) if curvature > 1e-12 else 0.0
            if step == 0.0:
                break
            w *= 1 - step
            w[j] += step
            Kw += step * towards
        return float(np.sqrt(max(w @ Kw - 2 * w @ Kt + target @ Kt, 0.0)))
