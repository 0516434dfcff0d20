"""The sparse-label protocol: turn densely judged data into sparse training labels plus known missing positives.

Densely judged collections (CISI, CACM, NPL: 15-41 relevant documents per query) hold the truth that
sparse training sets such as MS MARCO lack. Keep a few of each query's relevant documents as the
*labeled* positives, as a sparse annotation would, and the rest are *known* missing positives:
false negatives that are real and countable. This is how trueneg's detector is measured
(``bench/false_negatives.py``) and how a user can measure any detector or mining setting on their
own dense-judgment data.

Queries are first split (seeded) into train and test: the train side keeps ``keep`` of its relevant
documents (a share, or a count), the test side keeps all of them, for evaluating a model trained on
the sparse train labels. Judged negatives (grade 0) stay as they are on both sides.

Example:
    >>> from trueneg.data import RetrievalData
    >>> docs = [f"d{i}" for i in range(8)]
    >>> data = RetrievalData(docs, [f"text {i}" for i in range(8)], ["a", "b"], ["qa", "qb"],
    ...                      {"a": {d: 1 for d in docs[:4]}, "b": {d: 1 for d in docs[4:]}})
    >>> split = sparse_labels(data, keep=0.25, test_fraction=0.0, seed=0)
    >>> [len(split.train.qrels[q]) for q in ("a", "b")], [len(split.hidden[q]) for q in ("a", "b")]
    ([1, 1], [3, 3])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.data.dataset import RetrievalData
from trueneg.io import atomic_dir


@dataclass
class SparseLabels:
    """The result of :func:`sparse_labels`.

    Attributes:
        train: the train queries with only their kept relevant documents (and judged negatives) as qrels.
        test: the test queries with all their judgments.
        hidden: per train query id, the relevant document ids that were not kept (the ground truth of
            the missing positives).
        keep / test_fraction / seed: the settings that produced it.
    """

    train: RetrievalData
    test: RetrievalData
    hidden: dict[str, set[str]]
    keep: float
    test_fraction: float
    seed: int

    def is_hidden(self, query_ids: list[str] | np.ndarray, doc_ids: list[str] | np.ndarray) -> np.ndarray:
        """Boolean array: is each (query id, doc id) pair a hidden (missing) positive?"""
        return np.array([d in self.hidden.get(q, ()) for q, d in zip(query_ids, doc_ids)], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """Counts and settings, JSON-ready."""
        kept = sum(sum(g > 0 for g in docs.values()) for docs in self.train.qrels.values())
        return {
            "keep": self.keep,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "train_queries": len(self.train.qrels),
            "test_queries": len(self.test.qrels),
            "labeled_positives": int(kept),
            "hidden_positives": int(sum(len(v) for v in self.hidden.values())),
        }

    def write(self, path: str | os.PathLike) -> Path:
        """Write a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/train.tsv`` (the kept labels),
        ``qrels/test.tsv`` (test queries, all judgments) and ``qrels/hidden.tsv`` (the missing positives);
        atomically (an existing folder at ``path`` is replaced)."""
        import json

        path = Path(path)
        with atomic_dir(path) as tmp:
            with open(tmp / "corpus.jsonl", "w", encoding="utf-8") as f:
                for did, text in zip(self.train.doc_ids, self.train.doc_texts):
                    f.write(json.dumps({"_id": did, "text": text}, ensure_ascii=False) + "\n")
            with open(tmp / "queries.jsonl", "w", encoding="utf-8") as f:
                for qid, text in zip(self.train.query_ids, self.train.query_texts):
                    f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
            (tmp / "qrels").mkdir()
            hidden = {q: {d: 1 for d in sorted(docs)} for q, docs in self.hidden.items() if docs}
            for name, qrels in (("train", self.train.qrels), ("test", self.test.qrels), ("hidden", hidden)):
                with open(tmp / "qrels" / f"{name}.tsv", "w", encoding="utf-8") as f:
                    f.write("query-id\tcorpus-id\tscore\n")
                    for q, docs in qrels.items():
                        f.writelines(f"{q}\t{d}\t{g}\n" for d, g in docs.items())
        return path


def sparse_labels(
    data: RetrievalData, *, keep: float | int = 0.25, test_fraction: float = 0.2, seed: int = 0
) -> SparseLabels:
    """Split ``data``'s queries into train/test and keep only some relevant documents of each train query.

    Args:
        data: densely judged retrieval data (every query's relevant documents known).
        keep: a float in (0, 1) keeps that share of each train query's relevant documents (rounded, at
            least one); an int >= 1 keeps that many (all, when a query has fewer).
        test_fraction: share of the queries with a positive that go to the test side, in [0, 1).
        seed: seed of the query split and of the kept documents.

    Returns:
        A :class:`SparseLabels`; the kept documents of a query are a uniform random subset of its
        relevant ones, so every relevant document is equally likely to be labeled (SCAR).
    """
    if isinstance(keep, bool) or not isinstance(keep, (int, float, np.integer, np.floating)):
        raise ValueError(f"keep must be a share in (0, 1) or a count >= 1, got {keep!r}")
    is_count = isinstance(keep, (int, np.integer))
    if (is_count and keep < 1) or (not is_count and not 0.0 < keep < 1.0):
        raise ValueError(f"keep must be a share in (0, 1) or a count >= 1, got {keep!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    query_ids = data.mined_query_ids()
    if not query_ids:
        raise ValueError(f"{data.source}: no query has a positive judgment (grade > 0)")
    order = rng.permutation(len(query_ids))
    n_test = int(round(test_fraction * len(query_ids)))
    test_ids = {query_ids[i] for i in order[:n_test]}
    train_qrels: dict[str, dict[str, int]] = {}
    hidden: dict[str, set[str]] = {}
    for qid in query_ids:
        if qid in test_ids:
            continue
        docs = data.qrels[qid]
        relevant = [d for d, g in docs.items() if g > 0]
        n_keep = min(int(keep), len(relevant)) if is_count else max(1, int(round(keep * len(relevant))))
        kept = set(np.asarray(relevant, dtype=object)[rng.permutation(len(relevant))[:n_keep]].tolist())
        train_qrels[qid] = {d: g for d, g in docs.items() if g == 0 or d in kept}
        hidden[qid] = set(relevant) - kept
    test_qrels = {q: dict(data.qrels[q]) for q in query_ids if q in test_ids}
    base = (data.doc_ids, data.doc_texts, data.query_ids, data.query_texts)
    return SparseLabels(
        train=RetrievalData(*base, train_qrels, source=f"{data.source} (sparse train, keep={keep}, seed={seed})"),
        test=RetrievalData(*base, test_qrels, source=f"{data.source} (test, seed={seed})"),
        hidden=hidden,
        keep=float(keep),
        test_fraction=float(test_fraction),
        seed=seed,
    )
