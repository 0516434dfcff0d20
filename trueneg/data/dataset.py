"""The in-memory retrieval dataset every trueneg step works on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

_SPACE = re.compile(r"\s+")
PLURAL = {"query": "queries", "document": "documents"}  # for messages and progress bars


class DataError(ValueError):
    """Invalid input data; the message names the file, line and field at fault."""


class DataWarning(UserWarning):
    """Input data that was read with something left out (e.g. empty documents); the message says what."""


def normalize_text(text: str) -> str:
    """Case- and whitespace-insensitive form of ``text`` used to spot exact duplicates."""
    return _SPACE.sub(" ", text).strip().casefold()


def join_title(title: str | None, text: str) -> str:
    """Document text as BEIR tools see it: title and text joined by one space when a title exists."""
    title = (title or "").strip()
    return f"{title} {text}" if title else text


@dataclass
class Judgments:
    """Relevance judgments as parallel arrays of corpus/query row indices.

    ``grade > 0`` marks a labeled positive; ``grade == 0`` a judged negative, which is a
    known negative and is never treated as a suspected false negative.
    """

    query_index: np.ndarray
    doc_index: np.ndarray
    grade: np.ndarray


@dataclass
class RetrievalData:
    """A corpus, queries and graded relevance judgments (qrels), all keyed by string ids.

    ``qrels`` maps query id -> {doc id: grade}. Only queries with at least one positive
    (grade > 0) are mined; see :meth:`mined_query_ids`.
    """

    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int | float]]
    source: str = "<memory>"
    skipped: dict[str, int] = field(default_factory=dict)
    _doc_pos: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _query_pos: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _groups: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.doc_ids) != len(self.doc_texts):
            raise DataError(f"{self.source}: {len(self.doc_ids)} doc ids but {len(self.doc_texts)} texts")
        if len(self.query_ids) != len(self.query_texts):
            raise DataError(f"{self.source}: {len(self.query_ids)} query ids but {len(self.query_texts)} texts")
        self._doc_pos = {d: i for i, d in enumerate(self.doc_ids)}
        self._query_pos = {q: i for i, q in enumerate(self.query_ids)}
        if len(self._doc_pos) != len(self.doc_ids):
            raise DataError(f"{self.source}: duplicate document ids")
        if len(self._query_pos) != len(self.query_ids):
            raise DataError(f"{self.source}: duplicate query ids")
        for qid, docs in self.qrels.items():
            if qid not in self._query_pos:
                raise DataError(f"{self.source}: qrels name unknown query id {qid!r}")
            for did in docs:
                if did not in self._doc_pos:
                    raise DataError(f"{self.source}: qrels of query {qid!r} name unknown doc id {did!r}")

    def doc_index(self, doc_id: str) -> int:
        """Row of ``doc_id`` in the corpus."""
        return self._doc_pos[doc_id]

    def query_index(self, query_id: str) -> int:
        """Row of ``query_id`` in the queries."""
        return self._query_pos[query_id]

    def duplicate_groups(self) -> np.ndarray:
        """Per document, a group number shared by exactly the documents with the same normalized text.

        Computed once per dataset (a pass over the corpus) and reused by every mining call on it.
        """
        if self._groups is None:
            normalized = np.array([normalize_text(t) for t in self.doc_texts], dtype=object)
            self._groups = np.unique(normalized, return_inverse=True)[1].astype(np.int64)
        return self._groups

    def mined_query_ids(self) -> list[str]:
        """Ids of the queries that have at least one positive, in qrels order."""
        return [q for q, docs in self.qrels.items() if any(g > 0 for g in docs.values())]

    def judgments(self, query_ids: list[str]) -> Judgments:
        """Judgments of ``query_ids`` with ``query_index`` giving the position in that list."""
        rows = [(qi, self._doc_pos[d], g) for qi, q in enumerate(query_ids) for d, g in self.qrels.get(q, {}).items()]
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)  # grades may be fractional: 0.5 is a positive
        return Judgments(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2])
