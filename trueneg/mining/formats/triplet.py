"""``{"anchor", "positive", "negative"}``, one row per (positive, negative) pair.

Each (anchor, positive) repeats once per negative: train with sentence-transformers'
``BatchSamplers.NO_DUPLICATES`` (``trueneg train`` does), or the repeats of a batch become each other's
in-batch false negatives. With a teacher, ``scores`` ``[positive, negative]``; with relabel,
``positive_inferred`` / ``positive_probability``; with a detector, ``negative_probability``. Read back,
the rows of one (anchor, positive) are gathered into one example, in file order.

Example:
    >>> from trueneg.mining.formats.base import QueryRows
    >>> q = QueryRows("q", ["p"], [0.9], [False], [1.0], ["n1", "n2"], [0.4, 0.3], None)
    >>> [row["negative"] for row in write(q)]
    ['n1', 'n2']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trueneg.data.readers import text_field
from trueneg.mining.formats.base import Examples, QueryRows, numbers, one, one_positive_extras

NAME = "triplet"
KEY = "anchor"
FIELDS = frozenset({"anchor", "positive", "negative"})
EXTRA = ("positive_inferred", "positive_probability", "negative_probability", "scores")


def write(q: QueryRows) -> list[dict[str, Any]]:
    """One row per (positive, negative) of one query."""
    rows = []
    for i, (p, ps) in enumerate(zip(q.positives, q.positive_scores)):
        extra = q.inferred_fields(i)
        for n, ns, n_prob in zip(q.negatives, q.negative_scores, q.negative_probabilities or [None] * len(q.negatives)):
            row = {"anchor": q.query, "positive": p, "negative": n, **extra}
            if n_prob is not None:
                row["negative_probability"] = n_prob
            rows.append({**row, "scores": [ps, ns]} if q.soft_labels else row)
    return rows


def read(path: Path, number: int, record: dict[str, Any], out: Examples) -> None:
    """Add the row at line ``number`` to its (anchor, positive) example."""
    key = (text_field(path, number, record, "anchor"), text_field(path, number, record, "positive"))
    negative = text_field(path, number, record, "negative")
    scores = numbers(path, number, record, "scores", 2)
    neg_prob = one(path, number, record, "negative_probability", float)
    if key not in out.groups:
        out.groups[key] = out.add(*key, [], [scores[0]] if scores else None, *one_positive_extras(path, number, record),
                                  [])  # fmt: skip
    i = out.groups[key]
    out.negatives[i].append(negative)
    if out.negative_probabilities[i] is not None and neg_prob is not None:
        out.negative_probabilities[i].append(neg_prob)
    else:
        out.negative_probabilities[i] = None
    if scores and out.scores[i] is not None:
        out.scores[i].append(scores[1])
    else:
        out.scores[i] = None
