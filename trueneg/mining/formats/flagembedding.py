"""FlagEmbedding's fine-tuning format: one row per query, ``{"query", "pos", "neg", "pos_scores", "neg_scores"}``.

Plus the optional ``"prompt"`` (the query prompt) when the negatives were mined with one. With relabel,
``pos_inferred`` (aligned with ``pos``) and ``pos_probability``; with a detector, ``neg_probability``.
Read back, each positive becomes one example with the row's negatives.

Example:
    >>> from trueneg.mining.formats.base import QueryRows
    >>> q = QueryRows("q", ["p"], [0.9], [False], [1.0], ["n"], [0.4], None)
    >>> write(q)
    [{'query': 'q', 'pos': ['p'], 'neg': ['n'], 'pos_scores': [0.9], 'neg_scores': [0.4]}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trueneg.data.dataset import DataError
from trueneg.data.readers import text_field
from trueneg.mining.formats.base import Examples, QueryRows, flags, numbers, probabilities, texts

NAME = "flagembedding"
KEY = "query"
FIELDS = frozenset({"query", "pos", "neg"})
EXTRA = ("pos_inferred", "pos_probability", "neg_probability")


def write(q: QueryRows) -> list[dict[str, Any]]:
    """The row of one query."""
    row = {"query": q.query, "pos": q.positives, "neg": q.negatives, "pos_scores": q.positive_scores,
           "neg_scores": q.negative_scores}  # fmt: skip
    if q.relabel:
        row.update(pos_inferred=q.flags, pos_probability=q.positive_probabilities)
    if q.negative_probabilities is not None:
        row["neg_probability"] = q.negative_probabilities
    return [{**row, "prompt": q.prompt} if q.prompt else row]


def read(path: Path, number: int, record: dict[str, Any], out: Examples) -> None:
    """One example per positive of the row at line ``number``."""
    query = text_field(path, number, record, "query")
    pos, neg = texts(path, number, record, "pos"), texts(path, number, record, "neg")
    if not pos:
        raise DataError(f"{path}:{number}: field 'pos' is empty")
    pos_scores = numbers(path, number, record, "pos_scores", len(pos))
    neg_scores = numbers(path, number, record, "neg_scores", len(neg))
    inferred = flags(path, number, record, "pos_inferred", len(pos))
    weights = probabilities(path, number, record, "pos_probability", len(pos))
    neg_probs = probabilities(path, number, record, "neg_probability", len(neg))
    both = pos_scores is not None and neg_scores is not None
    for i, p in enumerate(pos):
        out.add(query, p, list(neg), [pos_scores[i], *neg_scores] if both else None,
                inferred[i] if inferred else None, weights[i] if weights else None,
                list(neg_probs) if neg_probs is not None else None)  # fmt: skip
