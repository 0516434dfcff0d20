"""What every output format shares: one query's mined content (the writers' input), the field checks and
the examples being read (the readers' output)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trueneg.data.dataset import DataError


@dataclass
class QueryRows:
    """One query's mined content, texts and rounded numbers, from which a format writes its rows.

    ``flags`` / ``positive_probabilities`` say which positives were inferred (relabeled) and how likely
    each is relevant (1 for labeled ones); ``relabel`` whether inferred positives were asked for at all;
    ``negative_probabilities`` is None when no detector ran; ``soft_labels`` whether the scores are a
    teacher's; ``width`` the negatives asked per query.
    """

    query: str
    positives: list[str]
    positive_scores: list[float]
    flags: list[bool]
    positive_probabilities: list[float]
    negatives: list[str]
    negative_scores: list[float]
    negative_probabilities: list[float] | None
    relabel: bool = False
    soft_labels: bool = False
    prompt: str | None = None
    width: int = 0

    def inferred_fields(self, i: int) -> dict[str, Any]:
        """``positive_inferred`` and ``positive_probability`` of positive ``i`` (with relabel only)."""
        if not self.relabel:
            return {}
        return {"positive_inferred": self.flags[i], "positive_probability": self.positive_probabilities[i]}


@dataclass
class Examples:
    """Training examples being read: one (anchor, positive) pair with its negatives, and what the rows carry."""

    anchors: list[str] = field(default_factory=list)
    positives: list[str] = field(default_factory=list)
    negatives: list[list[str]] = field(default_factory=list)
    scores: list[list[float] | None] = field(default_factory=list)
    inferred: list[bool | None] = field(default_factory=list)
    weights: list[float | None] = field(default_factory=list)
    negative_probabilities: list[list[float] | None] = field(default_factory=list)
    groups: dict[tuple[str, str], int] = field(default_factory=dict)  # triplet rows of one (anchor, positive)

    def add(
        self,
        anchor: str,
        positive: str,
        negatives: list[str],
        scores: list[float] | None,
        inferred: bool | None = None,
        weight: float | None = None,
        negative_probabilities: list[float] | None = None,
    ) -> int:
        """Append one example; its index."""
        self.anchors.append(anchor)
        self.positives.append(positive)
        self.negatives.append(negatives)
        self.scores.append(scores)
        self.inferred.append(inferred)
        self.weights.append(weight)
        self.negative_probabilities.append(negative_probabilities)
        return len(self.anchors) - 1


def numbers(path: Path, number: int, record: dict[str, Any], name: str, expected: int) -> list[float] | None:
    """Field ``name`` as ``expected`` finite numbers, or None when absent."""
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise DataError(f"{path}:{number}: field {name!r} must be a list of numbers")
    if len(value) != expected:
        raise DataError(f"{path}:{number}: field {name!r} has {len(value)} values, expected {expected}")
    bad = next((i for i, v in enumerate(value) if not math.isfinite(v)), None)
    if bad is not None:
        raise DataError(f"{path}:{number}: field {name!r} item {bad} is {value[bad]}; soft labels must be finite")
    return [float(v) for v in value]


def probabilities(path: Path, number: int, record: dict[str, Any], name: str, expected: int) -> list[float] | None:
    """Field ``name`` as ``expected`` probabilities in [0, 1], or None when absent."""
    values = numbers(path, number, record, name, expected)
    if values is not None and not all(0.0 <= v <= 1.0 for v in values):
        raise DataError(f"{path}:{number}: field {name!r} must hold probabilities in [0, 1]")
    return values


def flags(path: Path, number: int, record: dict[str, Any], name: str, expected: int) -> list[bool] | None:
    """Field ``name`` as ``expected`` booleans, or None when absent."""
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, bool) for v in value):
        raise DataError(f"{path}:{number}: field {name!r} must be a list of booleans")
    if len(value) != expected:
        raise DataError(f"{path}:{number}: field {name!r} has {len(value)} values, expected {expected}")
    return list(value)


def one(path: Path, number: int, record: dict[str, Any], name: str, kind: type) -> Any:
    """A scalar field (``positive_inferred`` / ``*_probability``) of the one-positive formats, or None."""
    value = record.get(name)
    if value is None:
        return None
    if kind is bool:
        if not isinstance(value, bool):
            raise DataError(f"{path}:{number}: field {name!r} must be true or false")
        return value
    return probabilities(path, number, {name: [value]}, name, 1)[0]


def texts(path: Path, number: int, record: dict[str, Any], name: str) -> list[str]:
    """Field ``name`` as a list of non-empty strings."""
    value = record.get(name)
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{path}:{number}: field {name!r} must be a list of strings")
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{number}: field {name!r} item {i} must be a non-empty string")
    return list(value)


def one_positive_extras(path: Path, number: int, record: dict[str, Any]) -> tuple[bool | None, float | None]:
    """``positive_inferred`` and ``positive_probability`` of a one-positive row."""
    inferred = one(path, number, record, "positive_inferred", bool)
    return inferred, one(path, number, record, "positive_probability", float)
