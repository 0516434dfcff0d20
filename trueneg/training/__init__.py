"""Fine-tuning with false-negative-aware losses: :func:`train` and the losses it uses."""

from trueneg.training.examples import TrainingExamples, load_examples
from trueneg.training.losses import (
    candidate_scores,
    debiased_clamped_share,
    debiased_contrastive,
    false_negative_masked_info_nce,
    info_nce,
    soft_label_distillation,
)
from trueneg.training.modules import (
    LOSSES,
    DebiasedContrastiveLoss,
    FalseNegativeMaskedLoss,
    MultipleNegativesRankingLoss,
    SoftLabelDistillationLoss,
)
from trueneg.training.train import TrainResult, train

__all__ = [
    "LOSSES",
    "DebiasedContrastiveLoss",
    "FalseNegativeMaskedLoss",
    "MultipleNegativesRankingLoss",
    "SoftLabelDistillationLoss",
    "TrainResult",
    "TrainingExamples",
    "candidate_scores",
    "debiased_clamped_share",
    "debiased_contrastive",
    "false_negative_masked_info_nce",
    "info_nce",
    "load_examples",
    "soft_label_distillation",
    "train",
]
