"""Exact inner-product search over normalized embeddings with FAISS (flat index)."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from trueneg import signals


def dense_search(
    query_vectors: np.ndarray, doc_vectors: np.ndarray, k: int, batch_size: int = 4096, show_progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` documents per query by inner product (cosine for normalized vectors).

    Returns ``(scores, indices)``, both ``(n_queries, k)``, best first; ``k`` is capped at the
    corpus size.

    Example:
        >>> import numpy as np
        >>> d = np.eye(3, dtype=np.float32); q = d[[2]]
        >>> dense_search(q, d, k=1)[1].tolist()
        [[2]]
    """
    import faiss

    k = min(k, len(doc_vectors))
    index = faiss.IndexFlatIP(doc_vectors.shape[1])
    index.add(np.ascontiguousarray(doc_vectors, dtype=np.float32))
    scores = np.empty((len(query_vectors), k), dtype=np.float32)
    indices = np.empty((len(query_vectors), k), dtype=np.int64)
    for start in tqdm(range(0, len(query_vectors), batch_size), desc="Searching", disable=not show_progress):
        signals.check()
        chunk = np.ascontiguousarray(query_vectors[start : start + batch_size], dtype=np.float32)
        scores[start : start + len(chunk)], indices[start : start + len(chunk)] = index.search(chunk, k)
    return scores, indices


def pair_scores(
    query_vectors: np.ndarray, doc_vectors: np.ndarray, query_index: np.ndarray, doc_index: np.ndarray
) -> np.ndarray:
    """Inner products of the (query, doc) pairs named by the two index arrays."""
    return np.einsum("ij,ij->i", query_vectors[query_index], doc_vectors[doc_index]).astype(np.float32)
