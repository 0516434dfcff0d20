"""Read any `trueneg mine` output (or sentence-transformers' mined tables) into training examples.

One example is one (anchor, positive) pair with its list of negatives, hardest first, and, when the
file has them, soft-label scores (positive first). The format is recognised from the fields:

- flagembedding ``{"query", "pos", "neg", ["pos_scores", "neg_scores"]}``: one example per positive;
- triplet ``{"anchor", "positive", "negative", ["scores"]}``: rows of the same (anchor, positive)
  are gathered into one example, in file order;
- n-tuple ``{"anchor", "positive", "negative_1", ..., ["scores"]}``;
- labeled-list ``{"anchor", "docs", "labels" | "scores"}``: the first document is the positive.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.data.dataset import DataError
from trueneg.data.readers import read_table, text_field


@dataclass
class TrainingExamples:
    """(anchor, positive, negatives[, scores]) examples; ``scores`` is ``None`` when the file has none."""

    anchors: list[str]
    positives: list[str]
    negatives: list[list[str]]
    scores: list[list[float]] | None
    source: str

    def __len__(self) -> int:
        return len(self.anchors)

    def to_columns(self, num_negatives: int, seed: int = 0) -> dict[str, list[Any]]:
        """Rectangular columns ``anchor, positive, negative_1..n[, label]`` for the trainer.

        Each example keeps its first ``num_negatives`` negatives. An example with fewer is topped up
        with negatives drawn at random (seeded) from the other examples' lists, so every labeled pair
        is trained on and the batch stays rectangular; the drawn ones get the lowest score of the
        example as their soft label.
        """
        if num_negatives < 0:
            raise ValueError(f"num_negatives must be >= 0, got {num_negatives}")
        rng = np.random.default_rng(seed)
        pool = [n for negs in self.negatives for n in negs]
        if num_negatives and not pool:
            raise DataError(f"{self.source}: no negatives in the file; use num_negatives=0 for in-batch only")
        columns: dict[str, list[Any]] = {"anchor": list(self.anchors), "positive": list(self.positives)}
        chosen = []
        for negs in self.negatives:
            picked = negs[:num_negatives]
            for _ in range(100 * num_negatives):  # bounded: a tiny pool may not have enough distinct texts
                if len(picked) >= num_negatives:
                    break
                candidate = pool[int(rng.integers(len(pool)))]
                if candidate not in picked:
                    picked.append(candidate)
            picked += [pool[int(rng.integers(len(pool)))] for _ in range(num_negatives - len(picked))]
            chosen.append(picked)
        for i in range(num_negatives):
            columns[f"negative_{i + 1}"] = [row[i] for row in chosen]
        if self.scores is not None:
            labels = []
            for negs, scores in zip(self.negatives, self.scores):
                kept = scores[: 1 + min(len(negs), num_negatives)]
                labels.append(kept + [min(kept)] * (1 + num_negatives - len(kept)))
            columns["label"] = labels
        return columns


def _scores(path: Path, number: int, record: dict[str, Any], name: str, expected: int) -> list[float] | None:
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


def _texts(path: Path, number: int, record: dict[str, Any], name: str) -> list[str]:
    value = record.get(name)
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{path}:{number}: field {name!r} must be a list of strings")
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{number}: field {name!r} item {i} must be a non-empty string")
    return list(value)


def _format_of(path: Path, number: int, record: dict[str, Any]) -> str:
    if {"query", "pos", "neg"} <= record.keys():
        return "flagembedding"
    if {"anchor", "docs"} <= record.keys():
        return "labeled-list"
    if {"anchor", "positive", "negative"} <= record.keys():
        return "triplet"
    if {"anchor", "positive"} <= record.keys():
        return "n-tuple"
    raise DataError(
        f"{path}:{number}: cannot tell the format from fields {sorted(record)}; expected a `trueneg mine` output "
        "(flagembedding: query/pos/neg, triplet: anchor/positive/negative, n-tuple: anchor/positive/negative_1.., "
        "labeled-list: anchor/docs/labels)"
    )


def load_examples(path: str | Path | Any) -> TrainingExamples:
    """Training examples from a `trueneg mine` output file (.jsonl or .parquet), format auto-detected.

    ``path`` may also be rows already in memory: a Hugging Face ``datasets.Dataset`` (as
    ``trueneg.mine(..., return_dataset=True)`` returns) or a list of row dicts.

    Example:
        >>> examples = load_examples("negatives.jsonl")  # doctest: +SKIP
        >>> examples.anchors[0], examples.positives[0], examples.negatives[0][:2]  # doctest: +SKIP
    """
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
        records = read_table(path)
    else:
        records = enumerate(iter(path), start=1)
        path = Path("<dataset>")
    anchors: list[str] = []
    positives: list[str] = []
    negatives: list[list[str]] = []
    scores: list[list[float] | None] = []
    triplet_index: dict[tuple[str, str], int] = {}
    fmt = None
    for number, record in records:
        this = _format_of(path, number, record)
        fmt = fmt or this
        if this != fmt:
            raise DataError(f"{path}:{number}: fields {sorted(record)} do not match the file's {fmt} format")
        if fmt == "flagembedding":
            query = text_field(path, number, record, "query")
            pos, neg = _texts(path, number, record, "pos"), _texts(path, number, record, "neg")
            if not pos:
                raise DataError(f"{path}:{number}: field 'pos' is empty")
            pos_scores = _scores(path, number, record, "pos_scores", len(pos))
            neg_scores = _scores(path, number, record, "neg_scores", len(neg))
            for i, p in enumerate(pos):
                anchors.append(query)
                positives.append(p)
                negatives.append(list(neg))
                both = pos_scores is not None and neg_scores is not None
                scores.append([pos_scores[i], *neg_scores] if both else None)
        elif fmt == "triplet":
            key = (text_field(path, number, record, "anchor"), text_field(path, number, record, "positive"))
            negative = text_field(path, number, record, "negative")
            row_scores = _scores(path, number, record, "scores", 2)
            if key not in triplet_index:
                triplet_index[key] = len(anchors)
                anchors.append(key[0])
                positives.append(key[1])
                negatives.append([])
                scores.append([row_scores[0]] if row_scores else None)
            i = triplet_index[key]
            negatives[i].append(negative)
            if row_scores and scores[i] is not None:
                scores[i].append(row_scores[1])
            else:
                scores[i] = None
        elif fmt == "n-tuple":
            anchors.append(text_field(path, number, record, "anchor"))
            positives.append(text_field(path, number, record, "positive"))
            names = sorted((k for k in record if k.startswith("negative_")), key=lambda k: int(k.split("_")[1]))
            negatives.append([text_field(path, number, record, k) for k in names])
            scores.append(_scores(path, number, record, "scores", 1 + len(names)))
        else:
            anchor = text_field(path, number, record, "anchor")
            docs = _texts(path, number, record, "docs")
            if len(docs) < 1:
                raise DataError(f"{path}:{number}: field 'docs' is empty")
            labels = record.get("labels")
            if labels is not None and (not isinstance(labels, list) or len(labels) != len(docs) or labels[0] != 1):
                raise DataError(f"{path}:{number}: field 'labels' must be 1 for the first document, one per document")
            anchors.append(anchor)
            positives.append(docs[0])
            negatives.append(docs[1:])
            scores.append(_scores(path, number, record, "scores", len(docs)))
    if not anchors:
        raise DataError(f"{path}: no training examples in the file")
    complete = all(s is not None for s in scores)
    return TrainingExamples(anchors, positives, negatives, scores if complete else None, str(path))
