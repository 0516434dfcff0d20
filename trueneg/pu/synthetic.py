"""Planted data for the false-negative detector: retrieval data whose missing positives are known.

It lives with the detector (not in :mod:`trueneg.data.synthetic`) because it returns a candidate pool too,
and the data stage comes before candidates.
"""

from __future__ import annotations

import numpy as np

from trueneg.candidates.pool import CandidatePool, retrieve_candidates
from trueneg.data.dataset import RetrievalData
from trueneg.data.synthetic import unit

__all__ = ["planted_missing_positives"]


def planted_missing_positives(
    n_queries: int = 40, relevant: int = 6, labeled: int = 3, distractors: int = 30, dim: int = 64, seed: int = 0
) -> tuple[RetrievalData, CandidatePool, set[tuple[str, str]]]:
    """Retrieval data with known missing positives, its dense candidate pool, and the hidden pairs.

    Each query has ``relevant`` relevant documents, clustered around a point near the query (so they
    are similar to each other), of which ``labeled`` are in the qrels and the rest are hidden; and
    ``distractors`` documents that score as high against the query but are spread around it (similar
    to the query, not to its positives). Relevant documents share two of the query's words,
    distractors one. The score alone separates the two groups poorly; similarity to the labeled
    positives and lexical overlap separate them well: the case the false-negative detector is for.

    Returns:
        ``(data, pool, hidden)``: the :class:`RetrievalData`, its :class:`~trueneg.candidates.pool.CandidatePool`
        (depth 40, with vectors), and the hidden (query id, doc id) pairs.

    Example:
        >>> data, pool, hidden = planted_missing_positives(n_queries=5)
        >>> len(hidden), pool.candidates.shape[0]
        (15, 5)
    """
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)]
    queries, q_vecs, docs, d_vecs, qrels, hidden = [], [], [], [], {}, set()
    for q in range(n_queries):
        qv = unit(rng.normal(size=(1, dim)))[0]
        words = [f"q{q}k{i}" for i in range(3)]
        queries.append(" ".join(words))
        q_vecs.append(qv)
        centre = unit(qv[None] + 0.9 * unit(rng.normal(size=(1, dim))))[0]
        rel = unit(
            centre[None] + 0.45 * unit(rng.normal(size=(relevant, dim))) * rng.uniform(0.6, 1.4, (relevant, 1))
        )
        noise = unit(rng.normal(size=(distractors, dim)))
        dis = unit(qv[None] + noise * rng.uniform(0.8, 1.3, (distractors, 1)))
        ids = []
        for i, vec in enumerate(np.vstack([rel, dis])):
            shared = words[:2] if i < relevant else [words[rng.integers(3)]]
            docs.append(" ".join(shared + rng.choice(vocab, 8).tolist()) + f" d{len(docs)}")
            d_vecs.append(vec)
            ids.append(f"d{len(docs) - 1}")
        order = rng.permutation(relevant)
        qrels[f"q{q}"] = {ids[i]: 1 for i in order[:labeled]}
        hidden.update((f"q{q}", ids[i]) for i in order[labeled:])
    vectors = {t: v for t, v in zip(docs + queries, d_vecs + q_vecs)}

    class _Lookup:
        def encode(self, texts: list[str], kind: str) -> np.ndarray:
            return np.stack([vectors[t] for t in texts]).astype(np.float32)

    data = RetrievalData([f"d{i}" for i in range(len(docs))], docs, [f"q{q}" for q in range(n_queries)], queries, qrels)
    pool = retrieve_candidates(data, _Lookup(), depth=40, show_progress=False)
    return data, pool, hidden
