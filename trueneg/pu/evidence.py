"""Signals about a (query, candidate) pair that the mining score alone does not carry.

The false-negative detector (:mod:`trueneg.pu.detector`) learns ``P(labeled | signals)`` over the
candidate pool, labeled positives against unlabeled candidates, and turns it into the probability
that an unlabeled candidate is a missing positive. That is only valid when every signal *means the
same for a labeled pair as for an unlabeled one*: a signal that looks at the pair's own label
(say, "similarity to the query's labeled positives", which is 1.0 for a labeled positive compared
with itself) would teach the classifier to recognise labels instead of relevance. So:

- ``positive_max`` / ``positive_mean`` / ``positive_gap`` are computed against the query's *other*
  labeled positives, leave-one-out: a labeled pair leaves itself out, and an unlabeled pair leaves
  out one labeled positive drawn at random (seeded, per pair). Both then see ``n - 1`` of the
  query's ``n`` labeled positives, drawn the same way; with ``n = 1`` the signal is missing (NaN)
  for every pair of the query, labeled or not.
- ``cross_query`` / ``cross_query_count`` look only at *other* queries' labels: the candidate is a
  labeled positive of queries similar to this one.
- ``score``, ``gap_to_top``, ``lexical`` and ``lexical_rank`` never look at labels.

Signals (higher means "more like a positive", except ``query_density``, a property of the query that
the classifier may combine with the others either way):

========================  ==========================================================================
``score``                 the pool's retrieval score (dense cosine for a dense pool)
``gap_to_top``            score minus the best score among the query's candidates
``rank``                  1 / (1 + the candidate's rank among the query's candidates), by score
``score_z``               the score standardized over the query's candidates
``query_density``         mean score of the query's 10 best candidates (how crowded its top is)
``positive_max``          max cosine between the candidate and the query's other labeled positives
``positive_mean``         mean of those cosines
``positive_gap``          score minus the mean score of the query's other labeled positives
``positive_top3``         mean of the 3 highest of those cosines
``positive_centroid``     cosine between the candidate and the centroid of the other labeled positives
``lexical``               BM25 score divided by the best BM25 score among the query's candidates
``lexical_rank``          1 - (BM25 rank among the query's candidates) / candidates
``cross_query``           max cosine between this query and another query that labels the candidate
``cross_query_count``     log(1 + number of other queries that label the candidate)
``hubness``               mean cosine of the candidate to its 10 nearest queries (of all the queries):
                          how close it is to every query, not only to this one
``csls``                  2 cos(query, candidate) - hubness: cross-domain similarity local scaling
                          (Conneau et al., 2018), the score corrected for the candidate being a hub
``query_rank``            1 / (1 + number of queries nearer to the candidate than this one), counted
                          among the candidate's 50 nearest queries: mutual nearest neighbours score 1
``teacher_score``         a second model's score of the pair (``Evidence(teacher=...)``, ``--teacher``)
``teacher_rank``          1 / (1 + the candidate's rank among the query's candidates by that score)
``teacher_z``             that score standardized over the query's candidates
``rank_mean``             1 / (1 + the mean of the candidate's two ranks, by the pool's and the second
                          model's score): where both models put it high
========================  ==========================================================================

``hubness``, ``csls`` and ``query_rank`` look at no label, so they exist with one labeled positive
per query, where the leave-one-out signals are empty; they need document and query vectors, and
search the queries the way :func:`~trueneg.candidates.index.exact_search` searches documents.

Example:
    >>> evidence = Evidence.from_pool(data, pool)  # doctest: +SKIP
    >>> X = evidence.features(pool, ("score", "positive_max", "lexical"))  # doctest: +SKIP
    >>> X.shape  # (queries, candidates, signals)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trueneg.candidates.index import exact_search
from trueneg.candidates.pool import CandidatePool, judged_sets, member_of
from trueneg.candidates.sparse import BM25Index
from trueneg.data.dataset import RetrievalData
from trueneg.hashing import uniform_keys

SIGNALS = (
    "score",
    "gap_to_top",
    "rank",
    "score_z",
    "query_density",
    "positive_max",
    "positive_mean",
    "positive_gap",
    "positive_top3",
    "positive_centroid",
    "lexical",
    "lexical_rank",
    "cross_query",
    "cross_query_count",
    "hubness",
    "csls",
    "query_rank",
    "teacher_score",
    "teacher_rank",
    "teacher_z",
    "rank_mean",
)
NEEDS = {  # what each signal needs beyond the pool's scores
    "positive_max": "vectors",
    "positive_mean": "vectors",
    "positive_top3": "vectors",
    "positive_centroid": "vectors",
    "lexical": "texts",
    "lexical_rank": "texts",
    "cross_query": "query_vectors",
    "cross_query_count": "query_vectors",
    "hubness": "both_vectors",
    "csls": "both_vectors",
    "query_rank": "both_vectors",
    "teacher_score": "teacher",
    "teacher_rank": "teacher",
    "teacher_z": "teacher",
    "rank_mean": "teacher",
}
TEACHER_SIGNALS = ("teacher_score", "teacher_rank", "teacher_z", "rank_mean")
UNORDERED = ("query_density", "hubness")  # signals with no known direction (the others: higher = more like a positive)
_BLOCK = 256  # queries per block of the (queries, candidates, positives) similarity tensor
HUB_K = 10  # nearest queries averaged by ``hubness``
REVERSE_K = 50  # nearest queries ``query_rank`` counts among


def _take(matrix: Any, rows: np.ndarray) -> np.ndarray:
    """Rows of an in-memory array or of an :class:`~trueneg.candidates.EmbeddingMatrix`, as float32."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(matrix, np.ndarray):
        return np.asarray(matrix[rows], dtype=np.float32)
    return matrix.take(rows)


@dataclass
class Evidence:
    """What the signals are computed from, built once per dataset and shared by every pool of it.

    Attributes:
        data: the dataset (texts for BM25; qrels for the cross-query signal).
        doc_vectors: normalized embeddings of every corpus document (an array or an
            :class:`~trueneg.candidates.EmbeddingMatrix`), or None.
        query_ids: every query with a positive (the cross-query signal looks up their vectors).
        query_vectors: normalized query embeddings (array or ``EmbeddingMatrix``), or None.
        query_rows: row of ``query_vectors`` for each of ``query_ids`` (default: the same position).
        lexical: compute the BM25 signals (builds a BM25 index over the corpus on first use).
        teacher: a second model's scores of a pool's pairs, ``teacher(pool) -> (Q, K)`` (NaN for
            padding), e.g. :func:`trueneg.mining.teacher.pool_scorer`; its signals look at no label.
    """

    data: RetrievalData
    doc_vectors: Any = None
    query_ids: list[str] = field(default_factory=list)
    query_vectors: Any = None
    query_rows: np.ndarray | None = None
    lexical: bool = True
    teacher: Callable[[CandidatePool], np.ndarray] | None = None
    _bm25: BM25Index | None = field(default=None, init=False, repr=False)
    _holders: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)
    _row: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_pool(
        cls,
        data: RetrievalData,
        pool: CandidatePool,
        lexical: bool = True,
        teacher: Callable[[CandidatePool], np.ndarray] | None = None,
    ) -> Evidence:
        """Evidence from an in-memory pool of all of ``data``'s queries (its vectors, when it has them)."""
        return cls(data, pool.doc_vectors, list(pool.query_ids), pool.query_vectors, lexical=lexical, teacher=teacher)

    def available(self) -> tuple[str, ...]:
        """The signals this evidence can compute."""
        has_data = self.data is not None
        have = {
            "vectors": self.doc_vectors is not None,
            "texts": self.lexical and has_data,
            "query_vectors": self.query_vectors is not None and len(self.query_ids) > 0 and has_data,
            "both_vectors": self.query_vectors is not None and self.doc_vectors is not None and len(self.query_ids) > 0,
            "teacher": self.teacher is not None,
        }
        return tuple(s for s in SIGNALS if have.get(NEEDS.get(s, ""), True))

    def features(self, pool: CandidatePool, signals: tuple[str, ...], seed: int = 0) -> np.ndarray:
        """``(Q, K, len(signals))`` signal values for every pool pair (NaN for padding and missing values)."""
        unknown = [s for s in signals if s not in self.available()]
        if unknown:
            raise ValueError(f"signals {unknown} need data this evidence lacks; available: {list(self.available())}")
        valid = pool.candidates >= 0
        scores = np.where(valid, pool.scores, np.nan).astype(np.float64)
        out: dict[str, np.ndarray] = {
            "score": scores,
            "gap_to_top": scores - np.nanmax(scores, axis=1, keepdims=True),
            "rank": 1.0 / (1.0 + _ranks(np.where(valid, scores, -np.inf))),
            "score_z": (scores - np.nanmean(scores, axis=1, keepdims=True))
            / np.maximum(np.nanstd(scores, axis=1, keepdims=True), 1e-9),
            "query_density": np.broadcast_to(
                np.nanmean(-np.sort(-np.where(valid, scores, -np.inf), axis=1)[:, :10], axis=1, keepdims=True),
                scores.shape,
            ).copy(),
        }
        if {"positive_max", "positive_mean", "positive_gap", "positive_top3", "positive_centroid"} & set(signals):
            out.update(self._positive_signals(pool, scores, seed))
        if {"lexical", "lexical_rank"} & set(signals):
            out.update(self._lexical_signals(pool))
        if {"cross_query", "cross_query_count"} & set(signals):
            out.update(self._cross_query_signals(pool))
        if {"hubness", "csls", "query_rank"} & set(signals):
            out.update(self._hub_signals(pool))
        if set(TEACHER_SIGNALS) & set(signals):
            out.update(self._teacher_signals(pool, valid, scores))
        stacked = np.stack([out[s] for s in signals], axis=2)
        stacked[~valid] = np.nan
        return stacked

    # -- leave-one-out similarity to the query's other labeled positives --------------------------
    def _positive_signals(self, pool: CandidatePool, scores: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        cand, positives = pool.candidates, pool.positives
        valid, has_pos = cand >= 0, positives >= 0
        n_pos = has_pos.sum(axis=1)
        # which of the query's positives each pair leaves out: itself if labeled, else one at random
        labeled_at = (cand[:, :, None] == positives[:, None, :]) & has_pos[:, None, :] & valid[:, :, None]
        rows = np.arange(len(cand))[:, None]
        draw = uniform_keys(seed, rows, np.maximum(cand, 0))
        slot = np.minimum((draw * np.maximum(n_pos, 1)[:, None]).astype(np.int64), np.maximum(n_pos - 1, 0)[:, None])
        # positives are left-packed (padding at the end), so slot j is the j-th labeled positive
        random_out = np.arange(positives.shape[1])[None, None, :] == slot[:, :, None]
        leave_out = np.where(labeled_at.any(axis=2, keepdims=True), labeled_at, random_out)
        others = has_pos[:, None, :] & ~leave_out  # (Q, K, P)
        count = others.sum(axis=2)
        # positive scores aligned with the padded positives matrix
        pos_scores = np.full(positives.shape, np.nan)
        pos_scores[has_pos] = pool.positive_scores
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_other_score = np.where(others, pos_scores[:, None, :], 0.0).sum(axis=2) / count
        result = {"positive_gap": np.where(count > 0, scores - mean_other_score, np.nan)}
        if self.doc_vectors is None:
            return result
        sim_max, sim_mean, sim_top, sim_centroid = (np.full(cand.shape, np.nan) for _ in range(4))
        for start in range(0, len(cand), _BLOCK):
            block = slice(start, start + _BLOCK)
            c, p = cand[block], positives[block]
            needed = np.unique(np.concatenate([c[c >= 0], p[p >= 0]]))
            vectors = _take(self.doc_vectors, needed)
            cv = vectors[np.searchsorted(needed, np.maximum(c, 0))]
            pv = vectors[np.searchsorted(needed, np.maximum(p, 0))]
            sims = np.einsum("qkd,qpd->qkp", cv, pv).astype(np.float64)
            mask, n = others[block], count[block]
            with np.errstate(invalid="ignore", divide="ignore"):
                sim_max[block] = np.where(n > 0, np.where(mask, sims, -np.inf).max(axis=2), np.nan)
                sim_mean[block] = np.where(n > 0, np.where(mask, sims, 0.0).sum(axis=2) / n, np.nan)
                top = -np.sort(-np.where(mask, sims, -np.inf), axis=2)[:, :, :3]
                n_top = np.minimum(n, 3)
                with np.errstate(invalid="ignore", divide="ignore"):
                    total = np.where(np.isfinite(top), top, 0.0).sum(axis=2)
                    sim_top[block] = np.where(n > 0, total / n_top, np.nan)
                centroid = np.einsum("qkp,qpd->qkd", mask.astype(np.float32), pv)
                norm = np.linalg.norm(centroid, axis=2)
                sim_centroid[block] = np.where(
                    (n > 0) & (norm > 0), np.einsum("qkd,qkd->qk", cv, centroid) / np.maximum(norm, 1e-12), np.nan
                )
        return {
            **result,
            "positive_max": sim_max,
            "positive_mean": sim_mean,
            "positive_top3": sim_top,
            "positive_centroid": sim_centroid,
        }

    # -- lexical agreement ------------------------------------------------------------------------
    def _lexical_signals(self, pool: CandidatePool) -> dict[str, np.ndarray]:
        if self._bm25 is None:
            self._bm25 = BM25Index(self.data.doc_texts)
        valid = pool.candidates >= 0
        q, k = np.nonzero(valid)
        bm25 = np.full(pool.candidates.shape, np.nan)
        bm25[q, k] = self._bm25.pair_scores(pool.query_texts, q, pool.candidates[q, k])
        best = np.nanmax(bm25, axis=1, keepdims=True)
        lexical = np.where(best > 0, bm25 / np.where(best > 0, best, 1.0), 0.0)
        rank = _ranks(np.where(valid, bm25, -np.inf))
        width = np.maximum(valid.sum(axis=1, keepdims=True), 1)
        return {"lexical": lexical, "lexical_rank": 1.0 - rank / width}

    # -- other queries' labels --------------------------------------------------------------------
    def _holder_index(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR (pointer, query rows) of the queries in ``query_ids`` that label each document positive."""
        if self._holders is None:
            positives, _ = judged_sets(self.data, self.query_ids)
            rows, cols = np.nonzero(positives >= 0)
            docs = positives[rows, cols]
            order = np.argsort(docs, kind="stable")
            pointer = np.zeros(len(self.data.doc_ids) + 1, dtype=np.int64)
            np.add.at(pointer, docs + 1, 1)
            self._holders = (np.cumsum(pointer), rows[order].astype(np.int64))
        return self._holders

    def _cross_query_signals(self, pool: CandidatePool) -> dict[str, np.ndarray]:
        pointer, holders = self._holder_index()
        own = self._own(pool)
        valid = pool.candidates >= 0
        q, k = np.nonzero(valid)
        docs = pool.candidates[q, k]
        counts = pointer[docs + 1] - pointer[docs]
        pair = np.repeat(np.arange(len(q)), counts)
        starts = np.repeat(pointer[docs], counts)
        offsets = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        other = holders[starts + offsets]
        keep = other != own[q[pair]]  # never the query itself
        pair, other = pair[keep], other[keep]
        best = np.full(len(q), np.nan)
        number = np.bincount(pair, minlength=len(q)).astype(np.float64)
        if len(pair):
            needed = np.unique(np.concatenate([own, other]))
            vectors = _take(self.query_vectors, needed if self.query_rows is None else self.query_rows[needed])
            a = vectors[np.searchsorted(needed, own[q[pair]])]
            b = vectors[np.searchsorted(needed, other)]
            sims = np.einsum("ij,ij->i", a, b).astype(np.float64)
            best_flat = np.full(len(q), -np.inf)
            np.maximum.at(best_flat, pair, sims)
            best = np.where(number > 0, best_flat, np.nan)
        cross = np.full(valid.shape, np.nan)
        cross_count = np.full(valid.shape, np.nan)
        cross[q, k] = np.where(number > 0, best, 0.0)
        cross_count[q, k] = np.log1p(number)
        return {"cross_query": cross, "cross_query_count": cross_count}

    # -- how close the candidate is to every query, not only to this one ---------------------------
    def _query_neighbours(self, vectors: np.ndarray) -> np.ndarray:
        """``(len(vectors), REVERSE_K)`` cosines of each document vector to its nearest queries, highest first."""
        if isinstance(self.query_vectors, np.ndarray):
            queries = np.asarray(self.query_vectors, dtype=np.float32)
            k = min(REVERSE_K, len(queries))
            best = np.empty((len(vectors), k), dtype=np.float32)
            step = max(1, (64 * 2**20) // (4 * max(len(queries), 1)))
            for start in range(0, len(vectors), step):
                sims = vectors[start : start + step] @ queries.T
                if sims.shape[1] > k:
                    sims = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
                best[start : start + step] = -np.sort(-sims, axis=1)
            return best
        return exact_search(vectors, self.query_vectors, REVERSE_K)[0]

    def _hub_signals(self, pool: CandidatePool) -> dict[str, np.ndarray]:
        valid = pool.candidates >= 0
        q, k = np.nonzero(valid)
        docs = pool.candidates[q, k]
        unique, where = np.unique(docs, return_inverse=True)
        doc_vectors = _take(self.doc_vectors, unique)  # read once: the search and the pair cosines share it
        neighbours = self._query_neighbours(doc_vectors)
        hub = neighbours[:, :HUB_K].mean(axis=1).astype(np.float64)
        own = self._own(pool)
        query_vectors = _take(self.query_vectors, own if self.query_rows is None else np.asarray(self.query_rows)[own])
        cosine = np.einsum("ij,ij->i", query_vectors[q], doc_vectors[where]).astype(np.float64)
        nearer = (neighbours[where] > cosine[:, None] + 1e-6).sum(axis=1)
        out = {name: np.full(valid.shape, np.nan) for name in ("hubness", "csls", "query_rank")}
        out["hubness"][q, k] = hub[where]
        out["csls"][q, k] = 2 * cosine - hub[where]
        out["query_rank"][q, k] = 1.0 / (1.0 + nearer)
        return out

    # -- a second model's opinion ----------------------------------------------------------------
    def _teacher_signals(self, pool: CandidatePool, valid: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
        teacher = np.asarray(self.teacher(pool), dtype=np.float64)
        if teacher.shape != valid.shape:
            raise ValueError(f"the teacher scored a {teacher.shape} pool, expected {valid.shape}")
        teacher = np.where(valid, teacher, np.nan)
        own_rank = _ranks(np.where(valid, scores, -np.inf))
        teacher_rank = _ranks(np.where(valid, teacher, -np.inf))
        return {
            "teacher_score": teacher,
            "teacher_rank": 1.0 / (1.0 + teacher_rank),
            "teacher_z": (teacher - np.nanmean(teacher, axis=1, keepdims=True))
            / np.maximum(np.nanstd(teacher, axis=1, keepdims=True), 1e-9),
            "rank_mean": 1.0 / (1.0 + (own_rank + teacher_rank) / 2),
        }

    def _own(self, pool: CandidatePool) -> np.ndarray:
        """Position in ``query_ids`` of each of the pool's queries (a clear error for one it lacks)."""
        if not self._row:
            self._row = {q: i for i, q in enumerate(self.query_ids)}
        missing = [q for q in pool.query_ids if q not in self._row]
        if missing:
            raise ValueError(f"evidence has no vector for query {missing[0]!r}; build it over every query of the data")
        return np.array([self._row[q] for q in pool.query_ids], dtype=np.int64)

def _ranks(values: np.ndarray) -> np.ndarray:
    """0-based rank of every entry within its row, highest value first (ties in column order)."""
    order = np.argsort(-values, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :], axis=1)
    return rank


def population(pool: CandidatePool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of the pool: labeled positives, judged negatives, and the PU population (all valid but judged)."""
    valid = pool.candidates >= 0
    labeled = member_of(pool.candidates, pool.positives) & valid
    judged = member_of(pool.candidates, pool.judged_negatives) & valid & ~labeled
    return labeled, judged, valid & ~judged
