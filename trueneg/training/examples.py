"""Read any `trueneg mine` output (or sentence-transformers' mined tables) into training examples.

One example is one (anchor, positive) pair with its list of negatives, hardest first, and, when the
file has them, soft-label scores (positive first). The format is recognised from the fields and read by
its module in :mod:`trueneg.mining.formats` (the same module writes it):

- flagembedding ``{"query", "pos", "neg", ["pos_scores", "neg_scores"]}``: one example per positive;
- triplet ``{"anchor", "positive", "negative", ["scores"]}``: rows of the same (anchor, positive)
  are gathered into one example, in file order;
- n-tuple ``{"anchor", "positive", "negative_1", ..., ["scores"]}``;
- labeled-list ``{"anchor", "docs", "labels" | "scores"}``: the first document is the positive.

The extra fields below may also come from the sidecar ``NAME.trueneg-extra.jsonl`` that ``trueneg mine``
writes beside its trainer-ready rows (:func:`trueneg.mining.result.split_rows`); it is merged row by row.

Rows mined with ``fn_action="relabel"`` flag inferred positives (``pos_inferred`` aligned with
``pos``, or ``positive_inferred``) and give their probability (``pos_probability`` /
``positive_probability``); rows mined with a false-negative detector give each negative's
probability of being a missing positive (``neg_probability`` / ``negative_probability`` /
``negative_probabilities``). Both are kept (``inferred``, ``weights``, ``negative_probabilities``)
for :func:`trueneg.training.train`'s ``inferred="soft"`` and ``guide="probability"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.data.dataset import DataError
from trueneg.data.readers import read_table
from trueneg.mining.formats import MODULES, Examples, format_of


@dataclass
class TrainingExamples:
    """(anchor, positive, negatives[, scores]) examples; ``scores`` is ``None`` when the file has none.

    ``inferred`` says which positives were inferred (relabeled) rather than labeled, ``weights`` is
    each positive's probability of being relevant (1 for labeled ones) and ``negative_probabilities``
    each negative's false-negative probability; each is ``None`` when the rows do not carry it.
    """

    anchors: list[str]
    positives: list[str]
    negatives: list[list[str]]
    scores: list[list[float]] | None
    source: str
    inferred: list[bool] | None = None
    weights: list[float] | None = None
    negative_probabilities: list[list[float]] | None = None

    def subset(self, keep: list[bool]) -> TrainingExamples:
        """The examples where ``keep`` is true."""

        def pick(values: list | None) -> list | None:
            return None if values is None else [v for v, k in zip(values, keep) if k]

        return TrainingExamples(
            pick(self.anchors), pick(self.positives), pick(self.negatives), pick(self.scores), self.source,
            pick(self.inferred), pick(self.weights), pick(self.negative_probabilities),
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.anchors)

    def to_columns(
        self, num_negatives: int, seed: int = 0, *, weights: bool = False, probabilities: bool = False
    ) -> dict[str, list[Any]]:
        """Rectangular columns ``anchor, positive, negative_1..n[, label]`` for the trainer.

        Each example keeps its first ``num_negatives`` negatives. An example with fewer is topped up
        with negatives drawn at random (seeded) from the other examples' lists, so every labeled pair
        is trained on and the batch stays rectangular; the drawn ones get the lowest score of the
        example as their soft label and false-negative probability 0 (a random document).

        ``label`` holds, in this order (see :mod:`trueneg.training.modules`): the pair's weight
        (``weights=True``; 1 where the rows give none), the negatives' false-negative probabilities
        (``probabilities=True``), then the soft-label scores when the examples have them.
        """
        if probabilities and self.negative_probabilities is None:
            raise DataError(
                f"{self.source}: the rows carry no negative probabilities; mine with a false-negative detector "
                "(max_fn_rate or fn_action) so they have neg_probability"
            )
        if num_negatives < 0:
            raise ValueError(f"num_negatives must be >= 0, got {num_negatives}")
        rng = np.random.default_rng(seed)
        pool = [n for negs in self.negatives for n in negs]
        if num_negatives and not pool:
            raise DataError(f"{self.source}: no negatives in the file; use num_negatives=0 for in-batch only")
        columns: dict[str, list[Any]] = {"anchor": list(self.anchors), "positive": list(self.positives)}
        chosen = []
        for negs in self.negatives:
            picked = list(negs[:num_negatives])
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
        labels: list[list[float]] = [[] for _ in self.anchors]
        if weights:
            for row, w in zip(labels, self.weights or [1.0] * len(self)):
                row.append(float(w))
        if probabilities:
            for row, negs, probs in zip(labels, self.negatives, self.negative_probabilities):
                kept = list(probs[: min(len(negs), num_negatives)])
                row.extend(kept + [0.0] * (num_negatives - len(kept)))
        if self.scores is not None:
            for row, negs, scores in zip(labels, self.negatives, self.scores):
                kept = scores[: 1 + min(len(negs), num_negatives)]
                row.extend(kept + [min(kept)] * (1 + num_negatives - len(kept)))
        if any(labels):
            columns["label"] = labels
        return columns


def _with_sidecar(path: Path, records: Any) -> Any:
    """``records`` with the fields of the sidecar ``trueneg mine`` wrote beside ``path`` merged in, row by row."""
    from trueneg.mining.result import sidecar_path

    side = sidecar_path(path)
    if not side.is_file():
        yield from records
        return
    extra: dict[int, dict[str, Any]] = {}
    for number, record in read_table(side):
        if not isinstance(record.get("row"), int):
            raise DataError(f"{side}:{number}: field 'row' must be the row number in {path.name}")
        extra[record["row"]] = record
    for number, record in records:
        fields = extra.pop(number - 1, None)
        if fields is not None:
            key = "query" if "query" in fields else "anchor"
            if fields.get(key) != record.get(key):
                raise DataError(
                    f"{side}: row {number - 1} is for another {key} than line {number} of {path.name}: the sidecar "
                    f"is from another run; mine again, or delete {side.name}"
                )
            record = {**record, **{k: v for k, v in fields.items() if k not in ("row", key)}}
        yield number, record
    if extra:
        raise DataError(f"{side}: rows {sorted(extra)[:3]} have no line in {path.name}: it is from another run")


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
        records = _with_sidecar(path, read_table(path))
    else:
        records = enumerate(iter(path), start=1)
        path = Path("<dataset>")
    out = Examples()
    fmt = None
    for number, record in records:
        this = format_of(path, number, record)
        fmt = fmt or this
        if this != fmt:
            raise DataError(f"{path}:{number}: fields {sorted(record)} do not match the file's {fmt} format")
        MODULES[fmt].read(path, number, record, out)
    if not out.anchors:
        raise DataError(f"{path}: no training examples in the file")

    def complete(values: list) -> list | None:
        return values if all(v is not None for v in values) else None

    flags = [bool(f) for f in out.inferred] if any(f is not None for f in out.inferred) else None
    pair_weights = None
    if any(w is not None for w in out.weights):
        pair_weights = [1.0 if w is None else w for w in out.weights]
    return TrainingExamples(
        out.anchors, out.positives, out.negatives, complete(out.scores), str(path), flags, pair_weights,
        complete(out.negative_probabilities),
    )
