"""The result of mining and its output formats.

Formats (rows are dicts; texts exactly as the corpus gives them), one module each in
:mod:`trueneg.mining.formats` with its writer and its reader: ``"flagembedding"`` (one row per query,
``{"query", "pos", "neg", "pos_scores", "neg_scores"}``, plus ``"prompt"`` when mined with a query prompt;
queries that got no negative are left out), ``"triplet"`` (``{"anchor", "positive", "negative"}`` per
(positive, negative) pair: train with ``BatchSamplers.NO_DUPLICATES``), ``"n-tuple"`` (``{"anchor",
"positive", "negative_1", ..., "negative_n"}`` per positive, only queries with all ``n`` negatives) and
``"labeled-list"`` (``{"anchor", "docs", "labels"}`` per positive).

With ``fn_action="relabel"``, inferred positives follow the labeled ones: in ``pos`` (scores in
``pos_scores``) with a list of booleans ``pos_inferred`` aligned with ``pos`` and the detector's
probability of each in ``pos_probability`` (1 for labeled positives) (flagembedding), or as extra
rows with ``positive_inferred: true`` and ``positive_probability`` (the other formats); without it
the rows are as before. With ``fn_action="drop-query"`` the queries with too many suspects have no
rows. Whenever a false-negative detector ran (``max_fn_rate``, ``fn_action`` other than drop, or
judges), each negative's probability of being a missing positive is written too:
``neg_probability`` aligned with ``neg`` (flagembedding), ``negative_probability`` (triplet),
``negative_probabilities`` aligned with the negatives (n-tuple, labeled-list).

With a teacher, the rows carry soft labels as in sentence-transformers' ``output_scores``:
triplet and n-tuple rows gain a ``scores`` list (positive first), and labeled-list rows carry
``scores`` (teacher scores) instead of ``labels``.

**Rows that train as they are.** The fields above that neither sentence-transformers' trainer nor
FlagEmbedding reads (:data:`EXTRA_FIELDS`: the inferred flags, the probabilities and the teacher's
raw ``scores`` of triplet / n-tuple rows) are kept out of the rows by default and written to a
sidecar file beside the output, ``NAME.trueneg-extra.jsonl`` (or ``.parquet``), one row
``{"row": i, "query"|"anchor": ..., <extras>}`` per output row that has any: :func:`split_rows`.
``trueneg train`` and :func:`~trueneg.training.load_examples` read the sidecar back. With a
teacher, triplet and n-tuple rows then carry MarginMSE's ``label``: ``score(q, p) − score(q, n)``
(a list, one per negative, for n-tuple). ``extra_columns=True`` (``--extra-columns``) keeps
everything in the rows instead, as earlier versions wrote them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.mining.formats import EXTRA_FIELDS, FORMATS, MODULES, QueryRows
from trueneg.mining.summary import MiningSummary
from trueneg.validation import check_one_of, require_extra

__all__ = ["EXTRA_FIELDS", "FORMATS", "MiningResult", "key_field", "sidecar_path", "split_rows"]
SIDECAR = ".trueneg-extra"


def key_field(format: str) -> str:
    """The field that identifies a row of ``format`` in its sidecar (``query`` or ``anchor``)."""
    return MODULES[format].KEY


def sidecar_path(output: str | os.PathLike) -> Path:
    """Where the extra fields of ``output`` go: ``NAME.trueneg-extra.SUFFIX`` beside it."""
    path = Path(output)
    return path.with_name(path.name[: len(path.name) - len(path.suffix)] + SIDECAR + path.suffix)


def split_rows(
    rows: list[dict[str, Any]], format: str, offset: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The trainer-ready rows of ``format`` and the sidecar rows of their extra fields (``row`` = ``offset + i``).

    Example:
        >>> main, extra = split_rows([{"anchor": "q", "positive": "p", "negative": "n", "scores": [0.9, 0.4],
        ...                            "negative_probability": 0.1}], "triplet")
        >>> main
        [{'anchor': 'q', 'positive': 'p', 'negative': 'n', 'label': 0.5}]
        >>> extra
        [{'row': 0, 'anchor': 'q', 'negative_probability': 0.1, 'scores': [0.9, 0.4]}]
    """
    names, key = EXTRA_FIELDS[format], key_field(format)
    main, extra = [], []
    for i, row in enumerate(rows):
        fields = {k: row[k] for k in names if k in row}
        core = {k: v for k, v in row.items() if k not in fields}
        if "scores" in fields:  # MarginMSE's label: the teacher's margin of the positive over each negative
            margins = [round(fields["scores"][0] - s, 6) for s in fields["scores"][1:]]
            core["label"] = margins[0] if format == "triplet" else margins
        main.append(core)
        if fields:
            extra.append({"row": offset + i, key: row[key], **fields})
    return main, extra


@dataclass
class MiningResult:
    """Mined negatives per query, as corpus row indices and scores, plus a summary."""

    query_ids: list[str]
    query_texts: list[str]
    doc_ids: list[str]
    doc_texts: list[str]
    positives: list[np.ndarray]
    positive_scores: list[np.ndarray]
    negatives: np.ndarray
    negative_scores: np.ndarray
    soft_labels: bool = False
    summary: MiningSummary = field(default_factory=MiningSummary)
    query_prompt: str | None = None
    inferred: list[np.ndarray] | None = None
    inferred_scores: list[np.ndarray] | None = None
    inferred_probabilities: list[np.ndarray] | None = None
    negative_probabilities: np.ndarray | None = None
    dropped_queries: np.ndarray | None = None

    def negative_ids(self) -> dict[str, list[str]]:
        """Query id -> ids of its mined negatives, hardest first."""
        return {q: [self.doc_ids[d] for d in row if d >= 0] for q, row in zip(self.query_ids, self.negatives)}

    def to_rows(self, format: str = "flagembedding", extra_columns: bool = False) -> list[dict[str, Any]]:
        """Rows of ``format`` (see the module docstring): trainer-ready, or with every extra field inline."""
        rows = self._rows(format)
        return rows if extra_columns else split_rows(rows, format)[0]

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per (query, negative), hardest first: ids, score and false-negative probability."""
        out = []
        for qi, qid in enumerate(self.query_ids):
            for k, d in enumerate(self.negatives[qi]):
                if d < 0:
                    continue
                prob = None if self.negative_probabilities is None else float(self.negative_probabilities[qi, k])
                out.append({"query_id": qid, "doc_id": self.doc_ids[d], "rank": k + 1,
                            "score": round(float(self.negative_scores[qi, k]), 6),
                            "negative_probability": None if prob is None else round(prob, 6)})  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        """The summary and the records (``"negatives"``), JSON-ready."""
        return {**self.summary.to_dict(), "negatives": self.to_records()}

    def write(self, path: str | os.PathLike, format: str = "flagembedding", extra_columns: bool = False) -> Path:
        """``.json``: :meth:`to_dict`; ``.jsonl`` / ``.parquet``: the rows of ``format`` (sidecar beside them)."""
        from trueneg.io import write_json

        path = Path(path)
        if path.suffix.lower() == ".json":
            write_json(path, self.to_dict())
        else:
            write_negative_rows(path, self._rows(format), format, extra_columns)
        return path

    def _rows(self, format: str) -> list[dict[str, Any]]:
        check_one_of("format", format, FORMATS)
        write = MODULES[format].write
        rows: list[dict[str, Any]] = []
        for qi in range(len(self.query_texts)):
            if self.dropped_queries is not None and self.dropped_queries[qi]:
                continue
            query = self._query_rows(qi)
            if query.negatives:  # a query without negatives has no row in any format
                rows.extend(write(query))
        return rows

    def _query_rows(self, qi: int) -> QueryRows:
        """Query ``qi``'s texts and rounded numbers, as every format writes them."""
        keep = self.negatives[qi] >= 0
        relabel = self.inferred is not None
        pos = [self.doc_texts[d] for d in self.positives[qi]]
        pos_scores = [round(float(s), 6) for s in self.positive_scores[qi]]
        flags, pos_probs = [False] * len(pos), [1.0] * len(pos)
        if relabel:
            pos += [self.doc_texts[d] for d in self.inferred[qi]]
            pos_scores += [round(float(s), 6) for s in self.inferred_scores[qi]]
            flags += [True] * len(self.inferred[qi])
            pos_probs += [round(float(p), 6) for p in self.inferred_probabilities[qi]]
        neg_probs = None
        if self.negative_probabilities is not None:
            neg_probs = [round(float(p), 6) for p in self.negative_probabilities[qi][keep]]
        negs = [self.doc_texts[d] for d in self.negatives[qi][keep]]
        neg_scores = [round(float(s), 6) for s in self.negative_scores[qi][keep]]
        return QueryRows(self.query_texts[qi], pos, pos_scores, flags, pos_probs, negs, neg_scores, neg_probs, relabel,
                         self.soft_labels, self.query_prompt, self.negatives.shape[1])  # fmt: skip

    def inferred_ids(self) -> dict[str, list[str]]:
        """Query id -> ids of its inferred positives (``fn_action="relabel"``), in retrieval order."""
        if self.inferred is None:
            return {}
        return {q: [self.doc_ids[d] for d in row] for q, row in zip(self.query_ids, self.inferred) if len(row)}

    def to_dataset(self, format: str = "flagembedding", extra_columns: bool = False) -> Any:
        """The rows of ``format`` as a Hugging Face ``datasets.Dataset`` (needs the ``hf`` extra)."""
        require_extra("datasets", "hf", "to_dataset")
        from datasets import Dataset

        return Dataset.from_list(self.to_rows(format, extra_columns))

    def to_pandas(self, format: str = "flagembedding", extra_columns: bool = False) -> Any:
        """The rows of ``format`` as a pandas ``DataFrame``."""
        import pandas as pd

        return pd.DataFrame(self.to_rows(format, extra_columns))


def remove_stale_sidecar(output: Path) -> None:
    """Remove a sidecar of an earlier run of ``output`` (only a file in exactly the shape trueneg writes)."""
    from trueneg.data.readers import read_table

    side = sidecar_path(output)
    if not side.is_file():
        return
    ours = {"row", "query", "anchor", *(name for names in EXTRA_FIELDS.values() for name in names)}
    try:
        first = next(read_table(side), (0, {}))[1]
    except Exception:  # noqa: BLE001 - unreadable: not provably ours
        return
    # exactly the shape split_rows writes (a row number, the key text, extra fields only): anything else is left
    if "row" in first and ("query" in first or "anchor" in first) and set(first) <= ours:
        side.unlink(missing_ok=True)


def write_negative_rows(
    output: str | os.PathLike, rows: list[dict[str, Any]], format: str, extra_columns: bool = False
) -> Path | None:
    """Write ``rows`` (with their extra fields inline) as ``trueneg mine`` does: the trainer-ready rows to
    ``output`` and the extras to :func:`sidecar_path` (or all inline with ``extra_columns``); atomically.
    Returns the sidecar path when one was written."""
    from trueneg.io import write_rows

    output = Path(output)
    main, extra = (rows, []) if extra_columns else split_rows(rows, format)
    write_rows(output, main)
    if extra:
        write_rows(sidecar_path(output), extra)
        return sidecar_path(output)
    remove_stale_sidecar(output)
    return None
