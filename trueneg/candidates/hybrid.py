"""Reciprocal-rank fusion of several ranked candidate lists."""

from __future__ import annotations

import numpy as np


def reciprocal_rank_fusion(rankings: list[np.ndarray], k: int, constant: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """Fuse ``(n_queries, depth)`` ranked index arrays into the top-``k`` by RRF score.

    RRF score of a document = sum over rankings of ``1 / (constant + rank)``, rank starting at 1
    (Cormack et al., 2009). Returns ``(scores, indices)`` best first; ties break by document
    index; rows with fewer than ``k`` distinct documents are padded with index -1 and score -inf.

    Example:
        >>> import numpy as np
        >>> reciprocal_rank_fusion([np.array([[0, 1]]), np.array([[1, 2]])], k=1)[1].tolist()
        [[1]]
    """
    docs = np.concatenate(rankings, axis=1)
    n_queries, width = docs.shape
    contrib = np.concatenate(
        [np.broadcast_to(1.0 / (constant + np.arange(1, r.shape[1] + 1)), r.shape) for r in rankings], axis=1
    )
    order = np.argsort(docs, axis=1, kind="stable")
    sorted_docs = np.take_along_axis(docs, order, axis=1)
    sorted_contrib = np.take_along_axis(contrib, order, axis=1)
    starts_mask = np.ones_like(sorted_docs, dtype=bool)
    starts_mask[:, 1:] = sorted_docs[:, 1:] != sorted_docs[:, :-1]
    starts = np.flatnonzero(starts_mask.ravel())
    totals = np.add.reduceat(sorted_contrib.ravel(), starts)
    rows = starts // width
    slot = np.arange(len(starts)) - np.searchsorted(rows, rows)
    fused = np.full((n_queries, width), -np.inf)
    fused_docs = np.full((n_queries, width), -1, dtype=np.int64)
    fused[rows, slot] = totals
    fused_docs[rows, slot] = sorted_docs.ravel()[starts]
    top = np.argsort(-fused, axis=1, kind="stable")[:, : min(k, width)]
    return np.take_along_axis(fused, top, axis=1).astype(np.float32), np.take_along_axis(fused_docs, top, axis=1)
