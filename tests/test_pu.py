"""Class-prior / label-frequency estimators on generated data with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from trueneg.pu import KM2, ElkanNoto, ROCTail, TIcE


def _pu_data(c: float, prior: float, n: int = 3000, gap: float = 2.0, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prior
    X = np.where(y[:, None], rng.normal(gap, 1, (n, 2)), rng.normal(-gap, 1, (n, 2)))
    s = y & (rng.random(n) < c)
    return X, s, y


@pytest.mark.parametrize(("c", "prior"), [(0.5, 0.4), (0.3, 0.25), (0.7, 0.5)])
@pytest.mark.parametrize(
    "estimator",
    [ElkanNoto(n_bootstrap=50), TIcE(n_bootstrap=50), KM2(n_bootstrap=4)],
    ids=["elkan-noto", "tice", "km2"],
)
def test_estimators_recover_known_label_frequency(estimator, c: float, prior: float) -> None:
    X, s, y = _pu_data(c, prior)
    fitted = estimator.fit(X, s)
    true_c = s.sum() / y.sum()
    true_unlabeled_prior = (y & ~s).sum() / (~s).sum()
    assert abs(fitted.label_frequency_ - true_c) < 0.08
    assert abs(fitted.unlabeled_prior_ - true_unlabeled_prior) < 0.06
    low, high = fitted.label_frequency_ci_
    assert 0 < low <= high <= 1 and high - low < 0.25
    assert fitted.prior_ci_[0] <= fitted.prior_ci_[1]


def test_tice_interval_covers_truth() -> None:
    X, s, y = _pu_data(0.5, 0.4, gap=2.5)
    fitted = TIcE(n_bootstrap=100).fit(X, s)
    low, high = fitted.label_frequency_ci_
    assert low - 0.02 <= s.sum() / y.sum() <= high + 0.02


def test_elkan_noto_classifier_ranks_hidden_positives() -> None:
    X, s, y = _pu_data(0.4, 0.4)
    fitted = ElkanNoto(n_bootstrap=10).fit(X, s)
    proba = fitted.predict_proba(X[~s])
    assert roc_auc_score(y[~s], proba) > 0.95
    assert proba.min() >= 0 and proba.max() <= 1


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="rows but s has"):
        TIcE().fit(np.zeros((5, 2)), np.ones(4))
    with pytest.raises(ValueError, match="at least 2 labeled"):
        TIcE().fit(np.zeros((5, 2)), np.array([1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="NaN"):
        ElkanNoto().fit(np.full((5, 2), np.nan), np.array([1, 1, 0, 0, 0]))


def test_deterministic_given_seed() -> None:
    X, s, _ = _pu_data(0.5, 0.4, n=1000)
    a, b = TIcE(seed=3).fit(X, s), TIcE(seed=3).fit(X, s)
    assert a.label_frequency_ == b.label_frequency_ and a.label_frequency_ci_ == b.label_frequency_ci_


def test_roc_tail_recovers_label_frequency_where_the_top_is_not_pure() -> None:
    """Positives and negatives overlap everywhere but at the top: TIcE's bound stays low, ROCTail does not."""
    from trueneg.pu import ROCTail, TIcE

    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(1.5, 1, (800, 1)), rng.normal(-0.5, 1, (3000, 1))]
    y = np.r_[np.ones(800), np.zeros(3000)]
    for c in (0.25, 0.6):
        s = (y == 1) & (rng.random(len(y)) < c)
        roc = ROCTail(n_bootstrap=20).fit(X, s)
        assert abs(roc.label_frequency_ - c) < 0.08
        low, high = roc.label_frequency_ci_
        assert low <= roc.label_frequency_ <= high
        assert abs(roc.label_frequency_ - c) < abs(TIcE(n_bootstrap=0).fit(X, s).label_frequency_ - c) + 0.02


# scikit-learn's generic checks fit on targets that PU estimation cannot use: these two hand every
# example the same label, and a label frequency needs labeled and unlabeled examples (it says so).
PU_CANNOT_PASS = {
    "check_estimators_dtypes": "y is all one value: no unlabeled examples to estimate c from",
    "check_fit2d_1feature": "y is all one value on the 1-feature data: refused for that, not for the one feature",
}


@parametrize_with_checks(
    [
        ElkanNoto(n_bootstrap=5),
        TIcE(n_bootstrap=5),
        ROCTail(n_bootstrap=5),
        KM2(n_bootstrap=2, max_samples=50, grid=10, iterations=20),
    ],
    expected_failed_checks=lambda estimator: PU_CANNOT_PASS,
)
def test_estimators_pass_scikit_learn_checks(estimator, check) -> None:
    check(estimator)
