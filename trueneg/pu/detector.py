"""The false-negative detector: the probability that each unlabeled candidate is a missing positive.

Model (positive-unlabeled learning over the candidate pool): every (query, candidate) pair of the
pool is an example; labeled positives have ``s = 1``, other candidates ``s = 0`` (judged negatives
are known negatives and left out). Each pair is described by signals that mean the same for
labeled and unlabeled pairs (:mod:`trueneg.pu.evidence`: the score, leave-one-out similarity to the
query's other labeled positives, BM25 agreement, other queries' labels). A classifier fit
out-of-fold (folds grouped by query) gives ``g(x) = P(s=1 | x)``; a label-frequency estimator
(the ROC-tail estimator by default) gives ``c = P(s=1 | y=1)``; and Elkan & Noto's identity turns them into

    P(y=1 | x, s=0) = (1 - c) / c * g(x) / (1 - g(x)).

The classifier is gradient boosting constrained to be monotone in every signal with a direction
(more similar, higher ranked, more lexical overlap can only raise ``g``), or a logistic regression;
``classifier="auto"`` keeps the one with the higher out-of-fold ROC AUC of ``s``, which under
SCAR orders pairs as ``P(y=1|x)`` does. ``detector="score"`` is the earlier single-score model
(logistic regression on ``score`` and ``gap_to_top``), kept for comparison.

Assumption: SCAR *given the signals*: the chance that a positive got labeled does not depend on the
pair beyond what the signals see. Retrieval qrels violate this through pooling bias (judges saw
only what the pooled systems ranked high), so estimates of missing positives deep in the ranking
are too low; ``bench/false_negatives_classic.py`` measures the detector on densely judged collections with
labels hidden at random (:func:`trueneg.data.sparse_labels`).

Example:
    >>> from trueneg.pu.synthetic import planted_missing_positives
    >>> data, pool, hidden = planted_missing_positives(seed=0)
    >>> est = FalseNegativeDetector(n_bootstrap=20).fit_estimate(pool, Evidence.from_pool(data, pool))
    >>> est.probability.shape == pool.candidates.shape
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from trueneg.candidates.pool import CandidatePool
from trueneg.pu.evidence import SIGNALS, UNORDERED, Evidence, population
from trueneg.pu.priors import KM2, ElkanNoto, ROCTail, TIcE, unlabeled_posterior
from trueneg.signals import check as check_interrupt
from trueneg.validation import check_one_of

Estimator = Literal["roc", "tice", "elkan-noto", "km2"]
Classifier = Literal["auto", "boosting", "logistic"]
Detector = Literal["multi", "score"]
ESTIMATORS = {"roc": ROCTail, "tice": TIcE, "elkan-noto": ElkanNoto, "km2": KM2}
SCORE_SIGNALS = ("score", "gap_to_top")
_CHOICES = {"estimator": Estimator, "classifier": Classifier, "detector": Detector}


def check_choice(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of its ``Literal`` choices."""
    check_one_of(name, value, get_args(_CHOICES[name]))


def label_frequency_estimator(name: str, n_bootstrap: int = 200, seed: int = 0) -> Any:
    """An unfitted label-frequency estimator of :mod:`trueneg.pu.priors` by name (KM2: at most 20 bootstraps)."""
    check_choice("estimator", name)
    return ESTIMATORS[name](n_bootstrap=n_bootstrap if name != "km2" else min(n_bootstrap, 20), seed=seed)


@dataclass
class FalseNegativeEstimate:
    """Per-candidate probability of being a missing positive, with the label frequency behind it.

    ``probability`` is ``(Q, K)`` aligned with the pool's candidates: NaN for padding and labeled
    positives, 0 for judged negatives. ``probability_low``/``probability_high`` are the same
    under the ends of the label-frequency interval. ``labeled_probability`` is the classifier's
    ``g = P(labeled | signals)`` of every population pair: the posterior is an increasing function of
    it, clipped at 1, so it breaks the ties among pairs whose probability is 1 (see :meth:`order`).
    """

    probability: np.ndarray
    probability_low: np.ndarray
    probability_high: np.ndarray
    labeled: np.ndarray
    label_frequency: float
    label_frequency_ci: tuple[float, float]
    estimator: str
    details: dict[str, Any] | None = None
    labeled_probability: np.ndarray | None = None

    def order(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Indices that sort the pairs ``(rows[i], cols[i])`` from most to least likely missing positive."""
        p = np.nan_to_num(self.probability[rows, cols], nan=-1.0)
        g = np.zeros(len(rows)) if self.labeled_probability is None else self.labeled_probability[rows, cols]
        return np.lexsort((np.nan_to_num(-g, nan=0.0), -p))

    def rate(self, mask: np.ndarray) -> tuple[float, float, float]:
        """Expected share of missing positives among the pairs in ``mask``: (estimate, low, high)."""
        if not mask.any():
            return (0.0, 0.0, 0.0)
        arrays = (self.probability, self.probability_low, self.probability_high)
        return tuple(float(np.nanmean(p[mask])) for p in arrays)

    def to_dict(self) -> dict[str, Any]:
        """The detector, the estimator and the label frequency with its interval, JSON-ready."""
        return {"detector": self.details, "estimator": self.estimator,
                **label_frequency_dict(self.label_frequency, self.label_frequency_ci)}  # fmt: skip

    def mined(self, chosen: np.ndarray, max_fn_rate: float | None, cutoff: float | None) -> dict[str, Any]:
        """The mining summary's ``false_negatives``: :meth:`to_dict`, the target and cutoff, and the rate of
        the emitted negatives (``chosen``: the picked columns per query, -1 padded)."""
        picked = np.zeros(self.probability.shape, dtype=bool)
        picked[np.nonzero(chosen >= 0)[0], chosen[chosen >= 0]] = True
        cut = None if cutoff is None else round(float(cutoff), 6)
        return {**self.to_dict(), "max_fn_rate": max_fn_rate, "cutoff": cut, **rate_dict(self.rate(picked))}


def label_frequency_dict(value: float, interval: tuple[float, float] | list[float]) -> dict[str, Any]:
    """``label_frequency`` and ``label_frequency_ci`` as every trueneg summary writes them (4 digits).

    Example:
        >>> label_frequency_dict(0.512345, (0.4, 0.61))
        {'label_frequency': 0.5123, 'label_frequency_ci': [0.4, 0.61]}
    """
    return {"label_frequency": round(value, 4), "label_frequency_ci": [round(v, 4) for v in interval]}


def rate_dict(rate: tuple[float, float, float] | np.ndarray) -> dict[str, float]:
    """An estimated false-negative rate and its interval as every trueneg summary writes them (5 digits).

    Example:
        >>> rate_dict((0.0312345, 0.02, 0.041))
        {'estimated_fn_rate': 0.03123, 'ci_low': 0.02, 'ci_high': 0.041}
    """
    return {key: round(float(v), 5) for key, v in zip(("estimated_fn_rate", "ci_low", "ci_high"), rate)}


def _classifier(kind: str, signals: tuple[str, ...], seed: int) -> Any:
    if kind == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True), StandardScaler(), LogisticRegression(max_iter=1000)
        )
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        monotonic_cst=[0 if s in UNORDERED else 1 for s in signals],
        random_state=seed,
    )


def _oof(model: Any, X: np.ndarray, s: np.ndarray, groups: np.ndarray, folds: int) -> np.ndarray:
    """Out-of-fold ``P(s=1|x)``, folds grouped by query so no query is scored by a model that saw it."""
    n_groups = len(np.unique(groups))
    out = np.empty(len(s))
    splitter = GroupKFold(n_splits=max(2, min(folds, n_groups)))
    for train, test in splitter.split(X, s, groups):
        check_interrupt()  # Ctrl-C stops between folds
        if s[train].all() or not s[train].any():
            out[test] = s[train].mean()
            continue
        # a signal with no value in this fold's training queries (small data: the one query with a second
        # positive is held out) carries nothing: a constant, on both sides, instead of a column the binning rejects
        dead = np.isnan(X[train]).all(axis=0)
        X_train, X_test = X[train], X[test]
        if dead.any():
            X_train, X_test = X_train.copy(), X_test.copy()
            X_train[:, dead], X_test[:, dead] = 0.0, 0.0
        out[test] = _fitted(model, X_train, s[train]).predict_proba(X_test)[:, 1]
    return out


def _fitted(model: Any, X: np.ndarray, s: np.ndarray) -> Any:
    """``clone(model).fit(X, s)`` with OpenMP on one thread: gradient boosting on a few thousand rows is
    several times slower with a thread per core on a busy 2-core machine (measured: 7.5 s vs 0.4 s)."""
    with threadpool_limits(1, user_api="openmp"):
        return clone(model).fit(X, s)


class FalseNegativeDetector:
    """Probability that each unlabeled pool candidate is a missing positive (see the module docstring).

    Parameters are stored as given; work happens in :meth:`fit` / :meth:`fit_estimate`.

    Args:
        detector: ``"multi"`` (every signal the evidence can compute, or ``signals``) or ``"score"``
            (logistic regression on the score and its gap to the top: the earlier model).
        signals: the signals to use (names from :data:`trueneg.pu.evidence.SIGNALS`); default all
            that are available.
        classifier: ``"auto"``, ``"boosting"`` (monotone gradient boosting) or ``"logistic"``.
        estimator: label-frequency estimator: ``"roc"`` (:class:`~trueneg.pu.priors.ROCTail`, default),
            ``"tice"``, ``"elkan-noto"`` or ``"km2"``.
        folds: cross-fitting folds (grouped by query). n_bootstrap: bootstrap rounds of the
            label-frequency interval. seed: seed of every random choice.

    Attributes (after fit):
        signals_: the signals used. classifier_: the fitted classifier and ``classifier_kind_`` its
        kind. oof_auc_: out-of-fold ROC AUC of ``s`` per classifier tried. label_frequency_,
        label_frequency_ci_: ``c`` and its interval. importance_: per signal, the drop in
        out-of-fold AUC when that signal's values are shuffled (what the model relies on).
    """

    def __init__(
        self,
        detector: Detector = "multi",
        signals: tuple[str, ...] | None = None,
        classifier: Classifier = "auto",
        estimator: Estimator = "roc",
        folds: int = 5,
        n_bootstrap: int = 200,
        seed: int = 0,
    ) -> None:
        self.detector = detector
        self.signals = signals
        self.classifier = classifier
        self.estimator = estimator
        self.folds = folds
        self.n_bootstrap = n_bootstrap
        self.seed = seed

    def _check(self, evidence: Evidence) -> tuple[str, ...]:
        check_choice("detector", self.detector)
        check_choice("classifier", self.classifier)
        check_choice("estimator", self.estimator)
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        if self.detector == "score":
            return SCORE_SIGNALS
        if self.signals is None:
            return evidence.available()
        unknown = [s for s in self.signals if s not in SIGNALS]
        if unknown or not self.signals:
            raise ValueError(f"signals must be a non-empty subset of {', '.join(SIGNALS)}; got {self.signals!r}")
        return tuple(self.signals)

    def _data(self, pool: CandidatePool, evidence: Evidence) -> tuple[Any, ...]:
        masks = population(pool)
        labeled, _, pop = masks
        X = evidence.features(pool, self.signals_, seed=self.seed)[pop]
        if not hasattr(self, "classifier_"):  # fitting: leave out signals with no value at all
            observed = ~np.isnan(X).all(axis=0) if len(X) else np.ones(X.shape[1], dtype=bool)
            self.signals_ = tuple(sig for sig, keep in zip(self.signals_, observed) if keep)
            X = X[:, observed]
        groups = np.broadcast_to(np.arange(len(pool.query_ids))[:, None], pop.shape)[pop]
        return masks, X, labeled[pop], groups

    def fit_estimate(self, pool: CandidatePool, evidence: Evidence) -> FalseNegativeEstimate:
        """Fit on ``pool`` and return its estimate with ``g`` out-of-fold: no pair is scored by a model that saw it."""
        self.signals_ = self._check(evidence)
        for fitted in ("classifier_", "classifier_kind_"):
            self.__dict__.pop(fitted, None)
        given = self.signals_
        masks, X, s, groups = self._data(pool, evidence)
        n_groups = len(np.unique(groups))
        short = [f"{need} {what} (got {got})" for need, what, got in (
            (2, "queries whose candidates hold a labeled positive", n_groups),
            (2, "labeled positives among the candidates", int(s.sum())),
            (2, "unlabeled candidates", int((~s).sum())),
        ) if got < need]  # fmt: skip
        if short:
            raise ValueError(
                "too little data for the false-negative detector: it needs at least " + ", ".join(short) + "; add "
                "queries with judged positives (or raise the candidate depth so that positives are retrieved)"
            )
        self.notes_ = []
        if len(self.signals_) < len(given):
            left = ", ".join(sig for sig in given if sig not in self.signals_)
            self.notes_.append(f"signals with no value on this data left out: {left}")
        if n_groups < self.folds:
            self.notes_.append(f"{n_groups} queries: {max(2, n_groups)} cross-fitting folds instead of {self.folds}")
        kinds = ("logistic",) if self.detector == "score" else (
            ("boosting", "logistic") if self.classifier == "auto" else (self.classifier,))  # fmt: skip
        oof, self.oof_auc_ = {}, {}
        for kind in kinds:
            oof[kind] = _oof(_classifier(kind, self.signals_, self.seed), X, s, groups, self.folds)
            self.oof_auc_[kind] = float(roc_auc_score(s, oof[kind]))
        self.classifier_kind_ = max(self.oof_auc_, key=self.oof_auc_.get)
        g = oof[self.classifier_kind_]
        self.classifier_ = _fitted(_classifier(self.classifier_kind_, self.signals_, self.seed), X, s)
        self._fit_label_frequency(g, s)
        self.importance_ = self._importance(X, s)
        return self._posteriors(masks, g)

    def fit(self, pool: CandidatePool, evidence: Evidence) -> FalseNegativeDetector:
        """Fit ``g`` and the label frequency on ``pool`` (e.g. a sample of queries), for :meth:`predict` on others."""
        self.fit_estimate(pool, evidence)
        return self

    def predict(self, pool: CandidatePool, evidence: Evidence) -> FalseNegativeEstimate:
        """Probabilities on ``pool`` (e.g. one chunk of a streamed run) from the fitted model."""
        if not hasattr(self, "classifier_"):
            raise ValueError("this FalseNegativeDetector is not fitted yet; call fit or fit_estimate first")
        masks, X, _, _ = self._data(pool, evidence)
        g = self.classifier_.predict_proba(X)[:, 1] if len(X) else np.zeros(0)
        return self._posteriors(masks, g)

    def _fit_label_frequency(self, g: np.ndarray, s: np.ndarray) -> None:
        logit = np.log(np.clip(g, 1e-6, 1 - 1e-6) / np.clip(1 - g, 1e-6, 1))[:, None]
        fitted = label_frequency_estimator(self.estimator, self.n_bootstrap, self.seed).fit(logit, s)
        self.label_frequency_ = fitted.label_frequency_
        self.label_frequency_ci_ = tuple(fitted.label_frequency_ci_)

    def _importance(self, X: np.ndarray, s: np.ndarray) -> dict[str, float]:
        """Drop in ROC AUC of ``s`` when one signal is shuffled (the fitted model, evaluated on its own pool)."""
        rng = np.random.default_rng(self.seed)
        base = roc_auc_score(s, self.classifier_.predict_proba(X)[:, 1])
        out = {}
        for j, name in enumerate(self.signals_):
            shuffled = X.copy()
            shuffled[:, j] = X[rng.permutation(len(X)), j]
            out[name] = round(float(base - roc_auc_score(s, self.classifier_.predict_proba(shuffled)[:, 1])), 4)
        return out

    def _posteriors(self, masks: tuple[np.ndarray, ...], g: np.ndarray) -> FalseNegativeEstimate:
        labeled, judged, pop = masks
        s = labeled[pop]
        c, (low, high) = self.label_frequency_, self.label_frequency_ci_
        out = []
        for value in (c, high, low):  # a higher label frequency means fewer missing positives
            p = np.full(labeled.shape, np.nan)
            p[pop] = np.where(s, np.nan, unlabeled_posterior(g, value))
            p[judged] = 0.0
            out.append(p)
        details = self.describe() if hasattr(self, "importance_") else None
        full_g = np.full(labeled.shape, np.nan)
        full_g[pop] = g
        return FalseNegativeEstimate(out[0], out[1], out[2], labeled, c, (low, high), self.estimator, details, full_g)

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as a summary's ``false_negatives`` begins: as :meth:`FalseNegativeEstimate.to_dict`."""
        return {"detector": self.describe(), "estimator": self.estimator,
                **label_frequency_dict(self.label_frequency_, self.label_frequency_ci_)}  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """JSON-ready description of the fitted model: signals, classifier, AUCs, importance, ``c``."""
        return {
            "detector": self.detector,
            "signals": list(self.signals_),
            "classifier": self.classifier_kind_,
            "oof_auc": {k: round(v, 4) for k, v in self.oof_auc_.items()},
            "signal_importance": self.importance_,
            "estimator": self.estimator,
            **label_frequency_dict(self.label_frequency_, self.label_frequency_ci_),
            "notes": list(getattr(self, "notes_", [])),
        }


def estimate_false_negatives(
    pool: CandidatePool,
    data: Any = None,
    *,
    detector: Detector | FalseNegativeDetector = "multi",
    estimator: Estimator = "roc",
    n_bootstrap: int = 200,
    seed: int = 0,
    evidence: Evidence | None = None,
    show_progress: bool = False,
) -> FalseNegativeEstimate:
    """Probability that each unlabeled candidate of ``pool`` is a missing positive, fit out-of-fold on ``pool``.

    Args:
        pool: candidates of every query (:func:`~trueneg.candidates.pool.retrieve_candidates`).
        data: the :class:`~trueneg.data.RetrievalData` behind ``pool`` (texts and other queries' labels);
            without it (and without ``evidence``) only the score signals are available.
        detector: ``"multi"`` (default), ``"score"``, or a configured :class:`FalseNegativeDetector`.
        estimator / n_bootstrap / seed: as in :class:`FalseNegativeDetector`.
        evidence: prebuilt :class:`~trueneg.pu.evidence.Evidence` (default: from ``data`` and ``pool``).
        show_progress: a status line on stderr while the detector fits (it can take a minute).

    The fitted detector's description (signals, classifier, signal importance) is in ``estimate.details``.

    Example:
        >>> pool = retrieve_candidates(load_beir("../shared/data/scifact"), depth=100)  # doctest: +SKIP
        >>> est = estimate_false_negatives(pool, data)  # doctest: +SKIP
        >>> est.rate(~est.labeled & (pool.candidates >= 0))  # doctest: +SKIP
    """
    if not show_progress:
        return _fit_on_pool(pool, data, detector, estimator, n_bootstrap, seed, evidence)[1]
    import sys
    import time

    pairs = int((pool.candidates >= 0).sum())
    sys.stderr.write(f"Fitting the false-negative detector on {pairs} candidate pairs of {len(pool.query_ids)} "
                     "queries (cross-fitted) ...\n")  # fmt: skip
    started = time.perf_counter()
    estimate = _fit_on_pool(pool, data, detector, estimator, n_bootstrap, seed, evidence)[1]
    sys.stderr.write(f"Fitted the false-negative detector in {time.perf_counter() - started:.1f} s\n")
    return estimate


def fit_detector(
    pool: CandidatePool,
    data: Any = None,
    *,
    detector: Detector | FalseNegativeDetector = "multi",
    estimator: Estimator = "roc",
    n_bootstrap: int = 200,
    seed: int = 0,
    evidence: Evidence | None = None,
) -> FalseNegativeDetector:
    """A :class:`FalseNegativeDetector` fit on ``pool`` (e.g. a sample of queries), to ``predict`` other pools.

    This is how the streamed path scales the estimate: fit on a sample of queries, applied to every
    chunk, so a query's probabilities do not depend on which chunk it falls in. The evidence it was
    fit with is kept in ``evidence_``.
    """
    return _fit_on_pool(pool, data, detector, estimator, n_bootstrap, seed, evidence)[0]


def _fit_on_pool(
    pool: CandidatePool,
    data: Any,
    detector: Detector | FalseNegativeDetector,
    estimator: Estimator,
    n_bootstrap: int,
    seed: int,
    evidence: Evidence | None,
) -> tuple[FalseNegativeDetector, FalseNegativeEstimate]:
    """The detector fit on ``pool`` and its out-of-fold estimate there."""
    if evidence is None:
        evidence = Evidence.from_pool(data, pool) if data is not None else Evidence(None, lexical=False)
    if isinstance(detector, FalseNegativeDetector):
        model = clone_detector(detector)
    else:
        check_choice("detector", detector)
        model = FalseNegativeDetector(detector=detector, estimator=estimator, n_bootstrap=n_bootstrap, seed=seed)
    estimate = model.fit_estimate(pool, evidence)
    model.evidence_ = evidence
    return model, estimate


def clone_detector(detector: FalseNegativeDetector) -> FalseNegativeDetector:
    """An unfitted copy of ``detector`` with the same parameters."""
    params = {k: getattr(detector, k) for k in ("detector", "signals", "classifier", "estimator", "folds",
                                                 "n_bootstrap", "seed")}  # fmt: skip
    return FalseNegativeDetector(**params)


DetectorLike = Detector | FalseNegativeDetector  # a detector by name, or a configured one
