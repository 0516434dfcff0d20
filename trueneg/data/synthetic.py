"""Generated retrieval data with embedding files, for trying and benchmarking the scale path.

Structure, chosen to look like sentence embeddings rather than uniform noise: documents belong to
topics whose sizes follow a Zipf law (a few large topics, many small ones); a document is its
topic's centre plus isotropic noise (cosine ≈ 0.7 to the centre, ≈ 0.5 between two documents of
a topic, ≈ 0 across topics). Each query is a noisy copy of one *planted positive* document
(cosine ≈ 0.65 to it), so its nearest neighbours are its positive and then the positive's topic,
the hard negatives. Vectors are written chunk by chunk, so 5M x 384 needs little more memory than
100k (the ids and texts aside).

The folder is also a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/train.tsv``), so
``trueneg mine FOLDER --corpus-embeddings FOLDER/corpus.npy --query-embeddings FOLDER/queries.npy``
runs on it as on real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from trueneg.data.dataset import RetrievalData
from trueneg.io import atomic_path


def unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit length, as float32 (the generators' vectors)."""
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_clustered_retrieval(
    folder: str | os.PathLike,
    n_docs: int,
    n_queries: int,
    *,
    dim: int = 384,
    n_topics: int | None = None,
    doc_noise: float = 1.0,
    query_noise: float = 1.2,
    seed: int = 0,
    chunk: int = 65536,
) -> tuple[RetrievalData, Path, Path]:
    """Write ``corpus.npy`` / ``queries.npy`` into ``folder``; return the dataset and both paths.

    Documents are ``d0..d{n-1}`` (text ``"document i topic t"``), queries ``q0..``, each with one
    positive. Rows of the ``.npy`` files follow those ids.

    Example:
        >>> data, corpus, queries = make_clustered_retrieval("/tmp/synth", 10_000, 1_000)  # doctest: +SKIP
    """
    if n_docs < 2 or n_queries < 1:
        raise ValueError(f"need at least 2 documents and 1 query, got {n_docs} and {n_queries}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_topics = n_topics or max(2, int(np.sqrt(n_docs) * 2))
    weights = 1.0 / np.arange(1, n_topics + 1) ** 0.8
    topic = rng.choice(n_topics, size=n_docs, p=weights / weights.sum())
    centres = unit(rng.standard_normal((n_topics, dim), dtype=np.float32))
    positive = rng.choice(n_docs, size=n_queries, replace=n_queries > n_docs)
    corpus_path, query_path = folder / "corpus.npy", folder / "queries.npy"
    sigma_d, sigma_q = doc_noise / np.sqrt(dim), query_noise / np.sqrt(dim)
    pos_order = np.argsort(positive, kind="stable")
    query_vectors = np.empty((n_queries, dim), dtype=np.float32)
    with atomic_path(corpus_path) as tmp:
        store = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_docs, dim))
        for start in range(0, n_docs, chunk):
            stop = min(start + chunk, n_docs)
            docs = unit(centres[topic[start:stop]] + sigma_d * rng.standard_normal((stop - start, dim), np.float32))
            store[start:stop] = docs
            lo, hi = np.searchsorted(positive[pos_order], [start, stop])
            rows = pos_order[lo:hi]
            noise = sigma_q * rng.standard_normal((len(rows), dim), np.float32)
            query_vectors[rows] = unit(docs[positive[rows] - start] + noise)
        store.flush()
        del store
    with atomic_path(query_path) as tmp:
        with tmp.open("wb") as f:
            np.save(f, query_vectors)
    doc_ids = [f"d{i}" for i in range(n_docs)]
    data = RetrievalData(
        doc_ids=doc_ids,
        doc_texts=[f"document {i} topic {t}" for i, t in enumerate(topic.tolist())],
        query_ids=[f"q{i}" for i in range(n_queries)],
        query_texts=[f"query {i}" for i in range(n_queries)],
        qrels={f"q{i}": {doc_ids[p]: 1} for i, p in enumerate(positive.tolist())},
        source=str(folder),
    )
    _write_beir(folder, data)
    return data, corpus_path, query_path


def _write_beir(folder: Path, data: RetrievalData) -> None:
    with atomic_path(folder / "corpus.jsonl") as tmp, tmp.open("w", encoding="utf-8") as f:
        f.writelines(f'{{"_id": "{d}", "title": "", "text": "{t}"}}\n' for d, t in zip(data.doc_ids, data.doc_texts))
    with atomic_path(folder / "queries.jsonl") as tmp, tmp.open("w", encoding="utf-8") as f:
        f.writelines(f'{{"_id": "{q}", "text": "{t}"}}\n' for q, t in zip(data.query_ids, data.query_texts))
    with atomic_path(folder / "qrels" / "train.tsv") as tmp, tmp.open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{q}\t{d}\t{g}\n" for q, docs in data.qrels.items() for d, g in docs.items())
