"""``{"anchor", "positive", "negative_1", ..., "negative_n"}``, one row per positive.

Only queries with all ``n`` negatives (a fixed width is the point of the format). With a teacher,
``scores`` (positive first); with relabel, ``positive_inferred`` / ``positive_probability``; with a
detector, ``negative_probabilities`` aligned with the negatives.

Example:
    >>> from trueneg.mining.formats.base import QueryRows
    >>> q = QueryRows("q", ["p"], [0.9], [False], [1.0], ["n1", "n2"], [0.4, 0.3], None, width=2)
    >>> write(q)
    [{'anchor': 'q', 'positive': 'p', 'negative_1': 'n1', 'negative_2': 'n2'}]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trueneg.data.readers import text_field
from trueneg.mining.formats.base import Examples, QueryRows, numbers, one_positive_extras, probabilities

NAME = "n-tuple"
KEY = "anchor"
FIELDS = frozenset({"anchor", "positive"})
EXTRA = ("positive_inferred", "positive_probability", "negative_probabilities", "scores")


def write(q: QueryRows) -> list[dict[str, Any]]:
    """One row per positive of one query; none when the query has fewer negatives than the width."""
    if len(q.negatives) < q.width:
        return []
    rows = []
    for i, (p, ps) in enumerate(zip(q.positives, q.positive_scores)):
        extra = q.inferred_fields(i)
        if q.negative_probabilities is not None:
            extra["negative_probabilities"] = q.negative_probabilities
        row = {"anchor": q.query, "positive": p, **{f"negative_{k + 1}": n for k, n in enumerate(q.negatives)}}
        row.update(extra)
        rows.append({**row, "scores": [ps, *q.negative_scores]} if q.soft_labels else row)
    return rows


def read(path: Path, number: int, record: dict[str, Any], out: Examples) -> None:
    """The example of the row at line ``number``."""
    names = sorted((k for k in record if re.fullmatch(r"negative_\d+", k)), key=lambda k: int(k.split("_")[1]))
    out.add(
        text_field(path, number, record, "anchor"), text_field(path, number, record, "positive"),
        [text_field(path, number, record, k) for k in names], numbers(path, number, record, "scores", 1 + len(names)),
        *one_positive_extras(path, number, record),
        probabilities(path, number, record, "negative_probabilities", len(names)),
    )  # fmt: skip
