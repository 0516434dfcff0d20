"""Implicit feedback (recommendation): an item a user never interacted with is unlabeled, not disliked."""

from trueneg.recommendation.als import FalseNegativeAwareALS
from trueneg.recommendation.api import (
    RecommendationAudit,
    audit_interactions,
    draw_negatives,
    recommend_negatives,
    split_interactions,
    train_recommender,
)
from trueneg.recommendation.data import SPLITS, Interactions, Split, leave_last_out, load_interactions, random_holdout
from trueneg.recommendation.metrics import evaluate_topk
from trueneg.recommendation.missing import (
    MissingPositiveModel,
    MissingPositives,
    find_missing_positives,
    fit_missing_positives,
)
from trueneg.recommendation.model import LOSSES, MatrixFactorization, save_factors
from trueneg.recommendation.samplers import (
    SAMPLERS,
    FalseNegativeAwareSampler,
    HardSampler,
    NegativeSampler,
    PopularitySampler,
    UniformSampler,
    make_sampler,
)

__all__ = [
    "LOSSES",
    "SAMPLERS",
    "SPLITS",
    "FalseNegativeAwareALS",
    "FalseNegativeAwareSampler",
    "HardSampler",
    "Interactions",
    "MatrixFactorization",
    "MissingPositiveModel",
    "MissingPositives",
    "NegativeSampler",
    "PopularitySampler",
    "RecommendationAudit",
    "Split",
    "UniformSampler",
    "audit_interactions",
    "draw_negatives",
    "evaluate_topk",
    "find_missing_positives",
    "fit_missing_positives",
    "leave_last_out",
    "load_interactions",
    "make_sampler",
    "random_holdout",
    "recommend_negatives",
    "save_factors",
    "split_interactions",
    "train_recommender",
]
