"""The summary of a mining run, typed: what was mined, what each filter dropped, the score statistics.

:class:`MiningSummary` reads like the JSON it becomes (``summary["negatives_emitted"]``, ``**summary``
and ``to_dict()`` give the same keys in the same order), and :meth:`MiningSummary.merge` adds up the
summaries of query chunks exactly: counts are summed, the score statistics are recomputed from the
chunks' score arrays, and the estimated false-negative rate is the chunks' rates weighted by the
negatives each emitted.

Example:
    >>> a = MiningSummary(queries=2, negatives_emitted=3, values={"negative": np.array([0.1, 0.2, 0.3])})
    >>> b = MiningSummary(queries=1, negatives_emitted=1, values={"negative": np.array([0.5])})
    >>> merged = MiningSummary.merge([a, b])
    >>> merged["negatives_emitted"], merged["scores"]["negative"]["max"]
    (4, 0.5)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trueneg.mining.rules import DROP_REASONS

SCORES = ("positive", "anchor_positive", "negative")
SUMMED = (
    "candidates",
    "not_sampled",
    "negatives_emitted",
    "judged_negatives_emitted",
    "queries_short_of_negatives",
    "queries_without_negatives",
)
ACTION_COUNTS = ("relabeled", "queries_relabeled", "queries_dropped")
_HIDDEN = ("values", "extra")


def score_stats(values: np.ndarray) -> dict[str, float | int]:
    """Count, mean, std, min, median and max of ``values`` (``{"count": 0}`` when empty), rounded to 4 digits."""
    if values.size == 0:
        return {"count": 0}
    return {
        "count": int(values.size),
        "mean": round(float(values.mean()), 4),
        "std": round(float(values.std()), 4),
        "min": round(float(values.min()), 4),
        "median": round(float(np.median(values)), 4),
        "max": round(float(values.max()), 4),
    }


@dataclass(eq=False)
class MiningSummary(Mapping):
    """What one mining run did. Keys in the order they are written; see ``trueneg mine --json``.

    ``values`` holds the raw scores behind ``scores`` (not written); ``extra`` the fields a caller
    adds (the scale path: ``index``, ``chunks``, ``engine``, ``rows_written``, ...), written last.
    """

    source: str | None = None
    skipped: dict[str, Any] | None = None
    queries: int = 0
    queries_without_positive: int = 0
    retriever: str = "dense"
    model: str | None = None
    backend: str | None = None
    teacher: str | None = None
    sampling: str = "top"
    num_negatives: int = 10
    range: list[int] = field(default_factory=lambda: [0, 100])
    filters: dict[str, float | None] = field(default_factory=dict)
    candidates: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    not_sampled: int = 0
    negatives_emitted: int = 0
    judged_negatives_emitted: int = 0
    queries_short_of_negatives: int = 0
    queries_without_negatives: int = 0
    short_query_ids: list[str] = field(default_factory=list)
    false_negatives: dict[str, Any] | None = None
    fn_action: dict[str, Any] = field(default_factory=lambda: {"action": "drop", "relabel_probability": 0.5,
                                                                **dict.fromkeys(ACTION_COUNTS, 0)})  # fmt: skip
    texts_encoded: int | None = None
    seconds: float = 0.0
    values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scores(self) -> dict[str, dict[str, float | int]]:
        """Statistics of the positives', the anchor positives' and the emitted negatives' scores."""
        return {name: score_stats(self.values.get(name, np.zeros(0, dtype=np.float32))) for name in SCORES}

    def _keys(self) -> list[str]:
        """The written keys in order: the fields (``scores`` after ``short_query_ids``), then ``extra``."""
        names = [f.name for f in dataclasses.fields(self) if f.name not in _HIDDEN]
        names.insert(names.index("short_query_ids") + 1, "scores")
        return names + [k for k in self.extra if k not in names]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready summary (what ``trueneg mine --json`` prints)."""
        return {key: self[key] for key in self._keys()}

    def __getitem__(self, key: str) -> Any:
        if key == "scores":
            return self.scores
        if key in self.extra:
            return self.extra[key]
        if key in _HIDDEN or key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @classmethod
    def merge(cls, parts: list[MiningSummary], **changes: Any) -> MiningSummary:
        """One summary of the query chunks ``parts`` (in order); ``changes`` set fields of the result.

        The settings (source, retriever, filters, ...) are the first part's; counts and dropped counts
        are sums; ``short_query_ids`` keeps the first 20; the false-negative rate and its interval are
        the parts' weighted by their emitted negatives.
        """
        if not parts:
            raise ValueError("merge needs at least one summary")
        first = parts[0]
        summed = {key: sum(getattr(p, key) for p in parts) for key in ("queries", *SUMMED)}
        values = {
            name: np.concatenate([p.values[name] for p in parts if name in p.values])
            for name in SCORES
            if any(name in p.values for p in parts)
        }
        fn = first.false_negatives
        if fn is not None:
            emitted = np.array([p.negatives_emitted for p in parts], dtype=np.float64)
            keys = ("estimated_fn_rate", "ci_low", "ci_high")
            rates = np.array([[p.false_negatives[k] for k in keys] for p in parts])
            rate = emitted @ rates / max(emitted.sum(), 1.0)  # per-chunk means, weighted by emitted
            fn = {**fn, **{k: round(float(v), 5) for k, v in zip(keys, rate)}}
        merged = dataclasses.replace(
            first,
            **summed,
            dropped={r: sum(p.dropped[r] for p in parts) for r in DROP_REASONS},
            short_query_ids=[q for p in parts for q in p.short_query_ids][:20],
            false_negatives=fn,
            fn_action={**first.fn_action, **{k: sum(p.fn_action[k] for p in parts) for k in ACTION_COUNTS}},
            values=values,
            extra=dict(first.extra),
        )
        return dataclasses.replace(merged, **changes)
