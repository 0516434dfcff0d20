"""``{"anchor", "docs", "labels"}``, one row per positive: the positive, then the negatives; labels 1 then 0s.

With a teacher, ``scores`` (teacher scores) instead of ``labels``; with relabel, ``positive_inferred`` /
``positive_probability``; with a detector, ``negative_probabilities`` aligned with the negatives.

Example:
    >>> from trueneg.mining.formats.base import QueryRows
    >>> q = QueryRows("q", ["p"], [0.9], [False], [1.0], ["n"], [0.4], None)
    >>> write(q)
    [{'anchor': 'q', 'docs': ['p', 'n'], 'labels': [1, 0]}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trueneg.data.dataset import DataError
from trueneg.data.readers import text_field
from trueneg.mining.formats.base import Examples, QueryRows, numbers, one_positive_extras, probabilities, texts

NAME = "labeled-list"
KEY = "anchor"
FIELDS = frozenset({"anchor", "docs"})
EXTRA = ("positive_inferred", "positive_probability", "negative_probabilities")


def write(q: QueryRows) -> list[dict[str, Any]]:
    """One row per positive of one query."""
    rows = []
    for i, (p, ps) in enumerate(zip(q.positives, q.positive_scores)):
        extra = q.inferred_fields(i)
        if q.negative_probabilities is not None:
            extra["negative_probabilities"] = q.negative_probabilities
        row = {"anchor": q.query, "docs": [p, *q.negatives], **extra}
        if q.soft_labels:
            rows.append({**row, "scores": [ps, *q.negative_scores]})
        else:
            rows.append({**row, "labels": [1] + [0] * len(q.negatives)})
    return rows


def read(path: Path, number: int, record: dict[str, Any], out: Examples) -> None:
    """The example of the row at line ``number``: the first document is the positive."""
    anchor = text_field(path, number, record, "anchor")
    docs = texts(path, number, record, "docs")
    if len(docs) < 1:
        raise DataError(f"{path}:{number}: field 'docs' is empty")
    labels = record.get("labels")
    if labels is not None and (not isinstance(labels, list) or len(labels) != len(docs) or labels[0] != 1):
        raise DataError(f"{path}:{number}: field 'labels' must be 1 for the first document, one per document")
    out.add(anchor, docs[0], docs[1:], numbers(path, number, record, "scores", len(docs)),
            *one_positive_extras(path, number, record),
            probabilities(path, number, record, "negative_probabilities", len(docs) - 1))  # fmt: skip
