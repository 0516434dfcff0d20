"""Classification data: label errors as missing positives of the true class."""

from trueneg.labels.issues import (
    FILTERS,
    LabelIssues,
    NoiseEstimate,
    class_thresholds,
    confident_joint,
    estimate_noise,
    find_label_issues,
    knn_label_votes,
)
from trueneg.labels.validate import PredProbsWarning, check_labels, check_pred_probs

__all__ = [
    "FILTERS",
    "LabelIssues",
    "NoiseEstimate",
    "PredProbsWarning",
    "check_labels",
    "check_pred_probs",
    "class_thresholds",
    "confident_joint",
    "estimate_noise",
    "find_label_issues",
    "knn_label_votes",
]
