"""BM25 candidate retrieval with bm25s."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm


class BM25Index:
    """A BM25 index over ``doc_texts`` (English stopwords removed, lower-cased word tokens).

    Example:
        >>> index = BM25Index(["the cat sat", "a dog ran", "cats and dogs"])
        >>> index.search(["dog"], k=1)[1].tolist()
        [[1]]
    """

    def __init__(self, doc_texts: list[str], show_progress: bool = False) -> None:
        import bm25s

        self.show_progress = show_progress
        self.n_docs = len(doc_texts)
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(doc_texts, stopwords="en", show_progress=False), show_progress=False)

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)

    def search(self, query_texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, indices) per query, best first; documents with score 0 rank last."""
        k = min(k, self.n_docs)
        scores = np.zeros((len(query_texts), k), dtype=np.float32)
        indices = np.zeros((len(query_texts), k), dtype=np.int64)
        for row, tokens in enumerate(tqdm(self._tokens(query_texts), desc="BM25", disable=not self.show_progress)):
            all_scores = self._scores(tokens)
            top = np.argpartition(-all_scores, k - 1)[:k] if k < self.n_docs else np.arange(self.n_docs)
            top = top[np.lexsort((top, -all_scores[top]))]
            scores[row], indices[row] = all_scores[top], top
        return scores, indices

    def _scores(self, tokens: list[str]) -> np.ndarray:
        known = [t for t in tokens if t in self.retriever.vocab_dict]
        if not known:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)

    def pair_scores(self, query_texts: list[str], query_index: np.ndarray, doc_index: np.ndarray) -> np.ndarray:
        """BM25 scores of the (query, doc) pairs named by the index arrays."""
        out = np.zeros(len(query_index), dtype=np.float32)
        tokens = self._tokens(query_texts)
        for q in np.unique(query_index):
            rows = np.flatnonzero(query_index == q)
            out[rows] = self._scores(tokens[q])[doc_index[rows]]
        return out
