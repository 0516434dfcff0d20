"""Step 4 of the pipeline: positive-unlabeled estimation, shared by mining, audit, streaming and recommendation.

- :mod:`trueneg.pu.priors`: label-frequency and class-prior estimators (Elkan-Noto, TIcE, KM2).
- :mod:`trueneg.pu.evidence`: signals about a (query, candidate) pair beyond the mining score.
- :mod:`trueneg.pu.detector`: the false-negative detector (probability that an unlabeled candidate
  is a missing positive) built on both.
"""

from trueneg.pu.detector import (
    ESTIMATORS,
    FalseNegativeDetector,
    FalseNegativeEstimate,
    check_choice,
    estimate_false_negatives,
    fit_detector,
    label_frequency_estimator,
)
from trueneg.pu.evidence import SIGNALS, Evidence, population
from trueneg.pu.priors import KM2, ElkanNoto, ROCTail, TIcE, oof_scores, unlabeled_posterior

__all__ = [
    "ESTIMATORS",
    "KM2",
    "ROCTail",
    "SIGNALS",
    "ElkanNoto",
    "Evidence",
    "FalseNegativeDetector",
    "FalseNegativeEstimate",
    "TIcE",
    "check_choice",
    "estimate_false_negatives",
    "fit_detector",
    "label_frequency_estimator",
    "oof_scores",
    "population",
    "unlabeled_posterior",
]
