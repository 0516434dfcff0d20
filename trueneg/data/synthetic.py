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


def _unit(x: np.ndarray) -> np.ndarray:
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
    centres = _unit(rng.standard_normal((n_topics, dim), dtype=np.float32))
    positive = rng.choice(n_docs, size=n_queries, replace=n_queries > n_docs)
    corpus_path, query_path = folder / "corpus.npy", folder / "queries.npy"
    sigma_d, sigma_q = doc_noise / np.sqrt(dim), query_noise / np.sqrt(dim)
    pos_order = np.argsort(positive, kind="stable")
    query_vectors = np.empty((n_queries, dim), dtype=np.float32)
    with atomic_path(corpus_path) as tmp:
        store = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_docs, dim))
        for start in range(0, n_docs, chunk):
            stop = min(start + chunk, n_docs)
            docs = _unit(centres[topic[start:stop]] + sigma_d * rng.standard_normal((stop - start, dim), np.float32))
            store[start:stop] = docs
            lo, hi = np.searchsorted(positive[pos_order], [start, stop])
            rows = pos_order[lo:hi]
            noise = sigma_q * rng.standard_normal((len(rows), dim), np.float32)
            query_vectors[rows] = _unit(docs[positive[rows] - start] + noise)
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


def planted_missing_positives(
    n_queries: int = 40, relevant: int = 6, labeled: int = 3, distractors: int = 30, dim: int = 64, seed: int = 0
) -> tuple[RetrievalData, object, set[tuple[str, str]]]:
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
    from trueneg.candidates.pool import retrieve_candidates

    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)]
    queries, q_vecs, docs, d_vecs, qrels, hidden = [], [], [], [], {}, set()
    for q in range(n_queries):
        qv = _unit(rng.normal(size=(1, dim)))[0]
        words = [f"q{q}k{i}" for i in range(3)]
        queries.append(" ".join(words))
        q_vecs.append(qv)
        centre = _unit(qv[None] + 0.9 * _unit(rng.normal(size=(1, dim))))[0]
        rel = _unit(
            centre[None] + 0.45 * _unit(rng.normal(size=(relevant, dim))) * rng.uniform(0.6, 1.4, (relevant, 1))
        )
        noise = _unit(rng.normal(size=(distractors, dim)))
        dis = _unit(qv[None] + noise * rng.uniform(0.8, 1.3, (distractors, 1)))
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
