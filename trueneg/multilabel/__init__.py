"""Multi-label data with missing labels: absent is not negative."""

from trueneg.multilabel.data import MultiLabelData, load_mulan, load_multilabel
from trueneg.multilabel.losses import (
    LOSSES,
    AssumeNegativeBCE,
    AsymmetricLoss,
    EntropyMaximization,
    EntropyMaximizationAPL,
    LargeLossModification,
    NonNegativePU,
    OnlineLabelEstimation,
    PULoss,
    WeakAssumeNegative,
)
from trueneg.multilabel.metrics import mean_average_precision
from trueneg.multilabel.select import CANDIDATES, LossSelection, select_loss, validation_score
from trueneg.multilabel.train import (
    MissingLabels,
    MultiLabelMLP,
    cross_val_probabilities,
    estimate_label_priors,
    find_missing_labels,
    make_loss,
)

__all__ = [
    "CANDIDATES",
    "LOSSES",
    "AssumeNegativeBCE",
    "AsymmetricLoss",
    "EntropyMaximization",
    "EntropyMaximizationAPL",
    "LargeLossModification",
    "LossSelection",
    "MissingLabels",
    "MultiLabelData",
    "MultiLabelMLP",
    "NonNegativePU",
    "OnlineLabelEstimation",
    "PULoss",
    "WeakAssumeNegative",
    "cross_val_probabilities",
    "estimate_label_priors",
    "find_missing_labels",
    "load_mulan",
    "load_multilabel",
    "make_loss",
    "mean_average_precision",
    "select_loss",
    "validation_score",
]
