"""Fine-tuning with false-negative-aware losses: :func:`train` and the losses it uses.

:class:`TrainConfig` imports without torch (the CLI reads its defaults at start-up); everything
else here loads torch and sentence-transformers on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from trueneg.training.config import TrainConfig

_WHERE = {
    "TrainingExamples": "examples",
    "load_examples": "examples",
    "candidate_scores": "losses",
    "debiased_clamped_share": "losses",
    "debiased_contrastive": "losses",
    "false_negative_masked_info_nce": "losses",
    "info_nce": "losses",
    "soft_label_distillation": "losses",
    "LOSSES": "modules",
    "DebiasedContrastiveLoss": "modules",
    "FalseNegativeMaskedLoss": "modules",
    "MultipleNegativesRankingLoss": "modules",
    "SoftLabelDistillationLoss": "modules",
    "TrainResult": "trainer",
    "train": "trainer",
}

__all__ = ["TrainConfig", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return __all__
