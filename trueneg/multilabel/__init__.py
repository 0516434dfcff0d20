"""Multi-label data with missing labels: absent is not negative."""

from trueneg.multilabel.data import load_mulan
from trueneg.multilabel.losses import LOSSES, AssumeNegativeBCE, AsymmetricLoss, EntropyMaximization, NonNegativePU
from trueneg.multilabel.train import MissingLabels, MultiLabelMLP, estimate_label_priors, find_missing_labels

__all__ = [
    "LOSSES",
    "AssumeNegativeBCE",
    "AsymmetricLoss",
    "EntropyMaximization",
    "MissingLabels",
    "MultiLabelMLP",
    "NonNegativePU",
    "estimate_label_priors",
    "find_missing_labels",
    "load_mulan",
]
