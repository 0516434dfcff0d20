"""Retrieve the candidate pool of every query with at least one positive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trueneg.candidates.cache import check_cache_dir
from trueneg.candidates.dense import dense_search, pair_scores
from trueneg.candidates.encoders import CacheDir, ModelLike, encoder_for
from trueneg.candidates.hybrid import reciprocal_rank_fusion
from trueneg.candidates.sparse import BM25Index
from trueneg.data.dataset import RetrievalData
from trueneg.validation import check_one_of

RETRIEVERS = ("dense", "sparse", "hybrid")


@dataclass
class CandidatePool:
    """Ranked candidates of each query plus its judgments, all as corpus row indices.

    ``candidates``/``scores`` are ``(n_queries, width)`` in retrieval order (-1 / -inf padding);
    ``positives`` and ``judged_negatives`` are padded with -1; ``positive_query``,
    ``positive_doc`` and ``positive_scores`` list every (query, positive) pair, query-major.
    Scores are dense cosine (dense, hybrid) or BM25 (sparse). ``doc_vectors`` (every corpus document)
    and ``query_vectors`` (the pool's queries, in order) are the normalized embeddings behind a dense
    or hybrid pool; the false-negative detector (:mod:`trueneg.pu.evidence`) reads them.
    """

    query_ids: list[str]
    query_texts: list[str]
    candidates: np.ndarray
    scores: np.ndarray
    positives: np.ndarray
    judged_negatives: np.ndarray
    positive_query: np.ndarray
    positive_doc: np.ndarray
    positive_scores: np.ndarray
    texts_encoded: int | None = None
    doc_vectors: np.ndarray | None = field(default=None, repr=False)
    query_vectors: np.ndarray | None = field(default=None, repr=False)

    def per_query_positive_scores(self) -> list[np.ndarray]:
        """Scores of each query's positives, one array per query."""
        counts = np.bincount(self.positive_query, minlength=len(self.query_ids))
        return np.split(self.positive_scores, np.cumsum(counts)[:-1])


def member_of(candidates: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """``(Q, K)`` mask: candidate ``[q, k]`` appears in row ``q`` of the padded ``sets`` (-1 is padding)."""
    return ((candidates[:, :, None] == sets[:, None, :]) & (sets[:, None, :] >= 0)).any(axis=2)


def group_by_query(query_index: np.ndarray, doc_index: np.ndarray, n_queries: int) -> np.ndarray:
    """Doc indices grouped by query as a ``(n_queries, width)`` matrix padded with -1."""
    order = np.argsort(query_index, kind="stable")
    counts = np.bincount(query_index, minlength=n_queries)
    width = max(int(counts.max(initial=0)), 1)
    out = np.full((n_queries, width), -1, dtype=np.int64)
    rows = query_index[order]
    out[rows, np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)] = doc_index[order]
    return out


def judged_sets(data: RetrievalData, query_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Labeled positives and judged negatives of ``query_ids`` as two -1-padded ``(n_queries, width)`` matrices."""
    judged = data.judgments(query_ids)
    is_pos = judged.grade > 0
    positives = group_by_query(judged.query_index[is_pos], judged.doc_index[is_pos], len(query_ids))
    negatives = group_by_query(judged.query_index[~is_pos], judged.doc_index[~is_pos], len(query_ids))
    return positives, negatives


def positive_pairs(positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (query row, positive doc) pair of a padded positives matrix, query-major."""
    return np.nonzero(positives >= 0)[0], positives[positives >= 0]


def pool_width(data: RetrievalData, query_ids: list[str], depth: int, n_docs: int) -> int:
    """Candidates retrieved per query: ``depth`` non-positives plus room for the most positives a query has."""
    most = max((sum(g > 0 for g in data.qrels[q].values()) for q in query_ids), default=0)
    return min(depth + most, n_docs)


def retrieve_candidates(
    data: RetrievalData,
    model: ModelLike = None,
    *,
    depth: int = 100,
    retriever: str = "dense",
    cache_dir: CacheDir = None,
    show_progress: bool = True,
    **encoder_settings: Any,
) -> CandidatePool:
    """Top-``depth`` non-positive candidates (plus room for the positives) of every query with a positive.

    ``model`` is the :class:`~trueneg.candidates.Encoder` of the dense side (or a model name/path, encoded
    with the default settings, on the embedding cache ``cache_dir``); ``encoder_settings`` (``backend``,
    prompts, ``batch_size``) are the deprecated way to configure it (see
    :func:`~trueneg.candidates.encoders.encoder_for`).

    Example:
        >>> pool = retrieve_candidates(load_beir("../shared/data/scifact"), depth=50)  # doctest: +SKIP
        >>> pool.candidates.shape  # doctest: +SKIP
        (809, 55)
    """
    check_one_of("retriever", retriever, RETRIEVERS)
    check_cache_dir(cache_dir)
    query_ids = data.mined_query_ids()
    if not query_ids:
        raise ValueError(f"{data.source}: no query has a positive judgment (grade > 0); nothing to mine")
    query_texts = [data.query_texts[data.query_index(q)] for q in query_ids]
    n_q = len(query_ids)
    positives, judged_negatives = judged_sets(data, query_ids)
    width = pool_width(data, query_ids, depth, len(data.doc_texts))

    encoder = q_vec = d_vec = bm25 = None
    if retriever in ("dense", "hybrid"):
        encoder = encoder_for(
            model, encoder_settings, cache_dir=cache_dir, show_progress=show_progress, caller="retrieve_candidates"
        )
        d_vec = encoder.encode(data.doc_texts, "document")
        q_vec = encoder.encode(query_texts, "query")
    if retriever in ("sparse", "hybrid"):
        bm25 = BM25Index(data.doc_texts, show_progress=show_progress)
    if retriever == "dense":
        scores, cand = dense_search(q_vec, d_vec, width, show_progress=show_progress)
    elif retriever == "sparse":
        scores, cand = bm25.search(query_texts, width)
    else:
        _, dense_cand = dense_search(q_vec, d_vec, width, show_progress=show_progress)
        _, sparse_cand = bm25.search(query_texts, width)
        _, cand = reciprocal_rank_fusion([dense_cand, sparse_cand], width)
        flat = pair_scores(q_vec, d_vec, np.repeat(np.arange(n_q), cand.shape[1]), np.maximum(cand, 0).ravel())
        scores = np.where(cand >= 0, flat.reshape(cand.shape), -np.inf)

    pos_q, pos_d = positive_pairs(positives)
    if retriever == "sparse":
        pos_scores = bm25.pair_scores(query_texts, pos_q, pos_d)
    else:
        pos_scores = pair_scores(q_vec, d_vec, pos_q, pos_d)
    return CandidatePool(
        query_ids,
        query_texts,
        cand,
        scores.astype(np.float32),
        positives,
        judged_negatives,
        pos_q,
        pos_d,
        pos_scores,
        getattr(encoder, "encoded_count", None),
        d_vec,
        q_vec,
    )
