"""False-negative filters over a (queries x candidates) matrix; each returns a boolean *drop* mask.

Scores are similarities where higher means more relevant. The *anchor* positive score of a query
is the **minimum** score over its labeled positives: a candidate that scores close to even the
least similar known positive may well be an unlabeled positive, so anchoring on the minimum is the
conservative choice (sentence-transformers' margins anchor the same way).

The positive-aware filters follow NV-Retriever (Moreira et al., 2024):

- TopK-Abs: drop candidates scoring above an absolute ``max_score``.
- TopK-MarginPos: drop candidates scoring above ``anchor - margin``.
- TopK-PercPos: drop candidates scoring above ``anchor - (1 - perc) * |anchor|``, which is
  ``perc * anchor`` for the usual non-negative anchor and stays below the anchor when it is
  negative. ``perc = 0.95`` is the same threshold as sentence-transformers'
  ``relative_margin = 0.05``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trueneg.candidates.pool import member_of

__all__ = [
    "anchor_scores",
    "member_of",
    "near_duplicates",
    "tfidf_matrix",
    "topk_abs",
    "topk_margin_pos",
    "topk_perc_pos",
]


def anchor_scores(positive_scores: list[np.ndarray]) -> np.ndarray:
    """Per-query anchor: the minimum score over the query's labeled positives."""
    return np.array([s.min() for s in positive_scores], dtype=np.float32)


def topk_abs(scores: np.ndarray, max_score: float) -> np.ndarray:
    """TopK-Abs: drop candidates with ``score > max_score``."""
    return scores > max_score


def topk_margin_pos(scores: np.ndarray, anchor: np.ndarray, margin: float) -> np.ndarray:
    """TopK-MarginPos: drop candidates with ``score > anchor - margin``."""
    return scores > (anchor - margin)[:, None]


def topk_perc_pos(scores: np.ndarray, anchor: np.ndarray, perc: float) -> np.ndarray:
    """TopK-PercPos: drop candidates with ``score > anchor - (1 - perc) * |anchor|``."""
    if not 0.0 < perc <= 1.0:
        raise ValueError(f"perc_pos must be in (0, 1], got {perc}")
    return scores > (anchor - (1.0 - perc) * np.abs(anchor))[:, None]


def tfidf_matrix(texts: list[str]) -> sp.csr_matrix:
    """Row-normalized word uni- and bi-gram TF-IDF vectors, used for lexical near-duplicate tests.

    Terms are hashed into 2**20 buckets instead of kept in a vocabulary: a bigram vocabulary of a
    few thousand abstracts already costs hundreds of MB of Python strings, and the rare collisions
    do not matter for a 0.9 cosine threshold.
    """
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    counts = HashingVectorizer(
        ngram_range=(1, 2), n_features=2**20, alternate_sign=False, norm=None, dtype=np.float32
    ).transform(texts)
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts).astype(np.float32).tocsr()


def near_duplicates(
    candidates: np.ndarray, positives: np.ndarray, vectors: sp.csr_matrix, threshold: float, chunk: int = 8192
) -> np.ndarray:
    """``(Q, K)`` mask: the candidate's TF-IDF cosine to one of the query's positives is >= ``threshold``.

    ``candidates`` and ``positives`` hold row indices into ``vectors`` (-1 is padding). Lexical
    similarity is used on purpose: a paraphrase-level embedding similarity would also flag
    distinct documents on the same topic, which are exactly the hard negatives worth keeping.
    Pairs are processed ``chunk`` at a time to bound memory.
    """
    q, k = candidates.shape
    cand = np.repeat(candidates[:, :, None], positives.shape[1], axis=2).ravel()
    pos = np.repeat(positives[:, None, :], k, axis=1).ravel()
    pairs = np.flatnonzero((cand >= 0) & (pos >= 0))
    sims = np.zeros(cand.shape, dtype=np.float32)
    for start in range(0, len(pairs), chunk):
        rows = pairs[start : start + chunk]
        sims[rows] = np.asarray(vectors[cand[rows]].multiply(vectors[pos[rows]]).sum(axis=1)).ravel()
    return (sims.reshape(q, k, positives.shape[1]) >= threshold).any(axis=2)
