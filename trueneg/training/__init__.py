"""Training losses that know about false negatives (the `trueneg train` command is not built yet)."""

from trueneg.training.losses import (
    candidate_scores,
    debiased_contrastive,
    false_negative_masked_info_nce,
    info_nce,
    soft_label_distillation,
)

__all__ = [
    "candidate_scores",
    "debiased_contrastive",
    "false_negative_masked_info_nce",
    "info_nce",
    "soft_label_distillation",
]
