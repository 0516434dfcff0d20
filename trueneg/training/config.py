"""The settings of a training run as one validated object (see :class:`trueneg.config.Config`).

Light on purpose (no torch import), so the CLI can read its defaults from ``TrainConfig()``.

Example:
    >>> TrainConfig(loss="debiased", class_prior=0.03).replace(batch_size=16).batch_size
    16
    >>> TrainConfig(guide="teacher")
    Traceback (most recent call last):
    ...
    ValueError: guide must be one of self, base, probability; got 'teacher'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

from trueneg.config import Config

Loss = Literal["mnrl", "fn-masked", "debiased", "distill"]
Guide = Literal["self", "base", "probability"]
Inferred = Literal["positive", "soft", "skip"]
LOSS_NAMES, GUIDES, INFERRED = get_args(Loss), get_args(Guide), get_args(Inferred)


@dataclass(frozen=True)
class TrainConfig(Config):
    """Every setting of :func:`~trueneg.training.train`; see its docstring for what each does."""

    WHAT: ClassVar[str] = "training"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"loss": LOSS_NAMES, "guide": GUIDES, "inferred": INFERRED}
    NUMERIC: ClassVar[dict[str, dict[str, Any]]] = {
        "num_negatives": {"low": 0, "integer": True},
        "batch_size": {"low": 2, "integer": True},  # the others of a batch are each example's in-batch negatives
        "epochs": {"low": 0.0, "low_open": True},
        "max_steps": {"low": 1, "integer": True},
        "learning_rate": {"low": 0.0, "low_open": True},
        "warmup_ratio": {"low": 0.0, "high": 1.0},
        "max_seq_length": {"low": 1, "integer": True},
        "train_layers": {"low": 1, "integer": True},
        "class_prior": {"low": 0.0, "high": 1.0, "high_open": True},
        "margin": {},
        "debias_temperature": {"low": 0.0, "low_open": True},
        "temperature": {"low": 0.0, "low_open": True},
        "contrastive_weight": {"low": 0.0},
        "scale": {"low": 0.0, "low_open": True},
        "checkpoint_steps": {"low": 0, "integer": True},
    }

    loss: Loss = "mnrl"
    num_negatives: int = 1
    batch_size: int = 32
    epochs: float = 1.0
    max_steps: int | None = None
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    max_seq_length: int | None = None
    train_layers: int | None = None
    class_prior: float | None = None
    margin: float = 0.0
    guide: Guide = "self"
    inferred: Inferred = "positive"
    debias_temperature: float | None = 0.5
    temperature: float = 1.0
    contrastive_weight: float = 1.0
    scale: float = 20.0
    checkpoint_steps: int | None = 500
    seed: int = 0
    query_prompt: str | None = None
    document_prompt: str | None = None
