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


def member_of(candidates: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """``(Q, K)`` mask: candidate ``[q, k]`` appears in row ``q`` of the padded ``sets`` (-1 is padding)."""
    return ((candidates[:, :, None] == sets[:, None, :]) & (sets[:, None, :] >= 0)).any(axis=2)


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
    """Row-normalized word uni- and bi-gram TF-IDF vectors, used for lexical near-duplicate tests."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32).fit_transform(texts).tocsr()


def near_duplicates(
    candidates: np.ndarray, positives: np.ndarray, vectors: sp.csr_matrix, threshold: float
) -> np.ndarray:
    """``(Q, K)`` mask: the candidate's TF-IDF cosine to one of the query's positives is >= ``threshold``.

    ``candidates`` and ``positives`` hold row indices into ``vectors`` (-1 is padding). Lexical
    similarity is used on purpose: a paraphrase-level embedding similarity would also flag
    distinct documents on the same topic, which are exactly the hard negatives worth keeping.
    """
    q, k = candidates.shape
    best = np.zeros((q, k), dtype=np.float32)
    for j in range(positives.shape[1]):
        pos = np.repeat(positives[:, j], k)
        cand = candidates.ravel()
        ok = (pos >= 0) & (cand >= 0)
        sims = np.zeros(q * k, dtype=np.float32)
        if ok.any():
            sims[ok] = np.asarray(vectors[cand[ok]].multiply(vectors[pos[ok]]).sum(axis=1)).ravel()
        best = np.maximum(best, sims.reshape(q, k))
    return best >= threshold
