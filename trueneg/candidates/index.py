"""Vector search over an on-disk :class:`~trueneg.candidates.embeddings.EmbeddingMatrix`, exact or approximate.

Index types (``kind``), all by inner product on L2-normalized vectors (cosine), all FAISS:

- ``"exact"``: brute force. The vectors are loaded into a flat index when they fit in half the
  memory budget, otherwise the corpus is scanned block by block from disk for every query chunk
  (same results, bounded memory, slower).
- ``"ivf"``: IVF-Flat, ``nlist`` ≈ 2·sqrt(n) lists (a power of two), k-means (10 iterations) on a
  sample of ``40·nlist`` vectors. Scores of the returned documents are exact; ``nprobe`` sets the recall.
- ``"ivfpq"``: IVF-PQ with ``dim/8`` byte codes (~48 bytes per 384-d vector), for corpora whose
  vectors do not fit in memory. The top ``4·k`` by PQ distance are re-scored exactly from the
  on-disk vectors, so the returned scores are exact and the recall loss is only in the shortlist.
- ``"hnsw"``: HNSW-Flat (M=32); ``efSearch`` sets the recall. Building it is slow on few cores,
  so ``"auto"`` never picks it.
- ``"auto"`` (:func:`choose_index`): exact when ``n_docs x n_queries <= 1e10`` pairs (about a
  minute on 2 cores) and the corpus is at most 200k documents; else IVF-Flat when the vectors fit
  in half the memory budget; else IVF-PQ.

Approximate indexes are tuned on a sample of the queries (:func:`tune_index`): the smallest
``nprobe`` / ``efSearch`` whose recall@10 against exact search reaches the target plus 0.01 on one
half of the sample (the margin absorbs the sampling noise), or the first whose recall gains less
than 0.002 over the previous setting (IVF-PQ's recall is capped by its shortlist: on the generated
1M benchmark it levels off near 0.96 while each doubling of ``nprobe`` costs more). The recall is
reported on the other half, so the printed number is not the one tuned on, and it can be below the
target: the summary says what was reached, not what was asked.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from trueneg import signals
from trueneg.candidates.embeddings import EmbeddingMatrix, chunk_rows
from trueneg.validation import check_one_of

INDEX_TYPES = ("auto", "exact", "ivf", "ivfpq", "hnsw")
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6, "mib": 2**20}
_UNITS |= {"g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}
_PROBES = {"ivf": [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024, 2048]}
_PROBES["ivfpq"] = _PROBES["ivf"]
_PROBES["hnsw"] = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024]
_REFINE = 4
_MARGIN = 0.01
_SATURATED = 0.002


def parse_memory(value: str | int) -> int:
    """Bytes from ``"4GiB"``, ``"512MB"``, ``"2g"`` or an integer.

    Example:
        >>> parse_memory("1.5GiB") == 3 * 2**29
        True
    """
    if isinstance(value, (int, np.integer)):
        size = int(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(f"memory size must look like 4GiB, 512MB or 2G, got {value!r}")
        size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 64 * 2**20:
        raise ValueError(f"memory budget must be at least 64MiB, got {value!r}")
    return size


def choose_index(n_docs: int, dim: int, n_queries: int, max_memory: int) -> str:
    """The ``"auto"`` choice (see the module docstring)."""
    if n_docs <= 200_000 and n_docs * n_queries <= 1e10:
        return "exact"
    return "ivf" if 4 * n_docs * dim <= max_memory // 2 else "ivfpq"


def exact_search(
    queries: np.ndarray, matrix: EmbeddingMatrix, k: int, budget_bytes: int = 512 * 2**20
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by inner product, scanning ``matrix`` from disk in blocks; ``(scores, ids)``, best first.

    Memory: one block of vectors plus a ``queries x block`` score matrix, within ``budget_bytes``.
    Ties are broken by the lower document row, as a flat FAISS index does.
    """
    k = min(k, len(matrix))
    n_q = len(queries)
    # the scores of a block (4 bytes) plus argpartition's int64 positions (8) per query and document
    block = max(1024, min(chunk_rows(matrix.dim, budget_bytes // 2), budget_bytes // 2 // max(12 * n_q, 1)))
    best_s = np.full((n_q, 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((n_q, 0), dtype=np.int64)
    for start, vectors in matrix.chunks(block):
        signals.check()
        scores = queries @ vectors.T
        if scores.shape[1] > k:
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            scores, ids = np.take_along_axis(scores, part, 1), part + start
        else:
            ids = np.broadcast_to(np.arange(start, start + len(vectors)), scores.shape)
        all_s, all_i = np.concatenate([best_s, scores], axis=1), np.concatenate([best_i, ids], axis=1)
        order = np.lexsort((all_i, -all_s), axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(all_s, order, 1), np.take_along_axis(all_i, order, 1)
    return best_s, best_i


@dataclass
class SearchIndex:
    """A built index over ``matrix``; :meth:`search` returns exact scores of the documents it finds."""

    kind: str
    matrix: EmbeddingMatrix
    index: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    budget_bytes: int = 512 * 2**20

    def set_probe(self, value: int) -> None:
        """Set the recall/speed knob: ``nprobe`` (IVF) or ``efSearch`` (HNSW)."""
        import faiss

        if self.kind in ("ivf", "ivfpq"):
            faiss.extract_index_ivf(self.index).nprobe = int(value)
            self.params["nprobe"] = int(value)
        elif self.kind == "hnsw":
            self.index.hnsw.efSearch = int(value)
            self.params["efSearch"] = int(value)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)`` per query, best first; missing hits are ``(-inf, -1)``."""
        k = min(k, len(self.matrix))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.index is None:
            return exact_search(queries, self.matrix, k, self.budget_bytes)
        if self.kind != "ivfpq":
            scores, ids = self.index.search(queries, k)
            return np.where(ids >= 0, scores, -np.inf).astype(np.float32), ids
        _, short = self.index.search(queries, min(_REFINE * k, len(self.matrix)))
        return _rescore(queries, short, self.matrix, k, self.budget_bytes)

    def to_bytes(self) -> np.ndarray | None:
        """The FAISS index serialized as a uint8 array (for shipping to Ray workers); ``None`` for a disk scan."""
        import faiss

        return None if self.index is None else faiss.serialize_index(self.index)

    @classmethod
    def from_bytes(
        cls, kind: str, matrix: EmbeddingMatrix, blob: np.ndarray | None, params: dict[str, Any], budget_bytes: int
    ) -> SearchIndex:
        """Rebuild an index from :meth:`to_bytes` (same knobs)."""
        import faiss

        index = None if blob is None else faiss.deserialize_index(blob)
        out = cls(kind, matrix, index, dict(params), budget_bytes)
        probe = params.get("nprobe", params.get("efSearch"))
        if probe is not None:
            out.set_probe(probe)
        return out


def _rescore(
    queries: np.ndarray, short: np.ndarray, matrix: EmbeddingMatrix, k: int, budget_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of a shortlist read from disk, top ``k`` kept; bounded by ``budget_bytes`` per batch."""
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    step = max(1, budget_bytes // 4 // max(4 * matrix.dim * short.shape[1], 1))
    for start in range(0, len(queries), step):
        rows = short[start : start + step]
        vectors = matrix.take(np.maximum(rows, 0))
        exact = np.einsum("qd,qkd->qk", queries[start : start + step], vectors)
        exact = np.where(rows >= 0, exact, -np.inf)
        order = np.lexsort((rows, -exact), axis=1)[:, :k]
        scores[start : start + len(rows)] = np.take_along_axis(exact, order, 1)
        ids[start : start + len(rows)] = np.where(
            np.isfinite(scores[start : start + len(rows)]), np.take_along_axis(rows, order, 1), -1
        )
    return scores, ids


def build_index(
    matrix: EmbeddingMatrix,
    kind: str = "auto",
    *,
    n_queries: int = 0,
    max_memory: int = 4 * 2**30,
    seed: int = 0,
    show_progress: bool = False,
) -> SearchIndex:
    """Build the index ``kind`` over ``matrix`` within ``max_memory`` bytes (see the module docstring).

    Example:
        >>> index = build_index(EmbeddingMatrix.from_npy("corpus.npy"), "ivf")  # doctest: +SKIP
        >>> scores, ids = index.search(query_vectors, k=100)  # doctest: +SKIP
    """
    import faiss

    check_one_of("index", kind, INDEX_TYPES)
    n, dim = matrix.shape
    if kind == "auto":
        kind = choose_index(n, dim, n_queries, max_memory)
    budget = max(64 * 2**20, max_memory // 8)
    flat_bytes = 4 * n * dim
    if kind in ("ivf", "hnsw") and flat_bytes > max_memory // 2:
        raise ValueError(
            f"--index {kind} keeps all {n} x {dim} vectors in memory ({flat_bytes / 2**30:.1f} GiB), more than half of "
            f"--max-memory {max_memory / 2**30:.1f} GiB; use --index ivfpq or exact, or raise --max-memory"
        )
    started = time.perf_counter()
    params: dict[str, Any] = {}
    if kind == "exact":
        if flat_bytes > max_memory // 2:
            return SearchIndex("exact", matrix, None, {"scan": "disk"}, budget)
        index = faiss.IndexFlatIP(dim)
        params["scan"] = "memory"
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        params.update(M=32, efConstruction=64)
    else:
        nlist = int(np.clip(2 ** round(math.log2(max(2 * math.sqrt(n), 1))), 1, max(1, n // 39)))
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            m = next(m for m in (dim // 8, dim // 4, dim // 2, dim) if m >= 1 and dim % m == 0)
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
            params.update(pq_bytes=m, refine=_REFINE)
        index.cp.niter = 10
        index.cp.seed = seed
        params["nlist"] = nlist
        rng = np.random.default_rng(seed)
        train_rows = np.sort(
            rng.choice(n, size=min(n, max(40 * nlist, 10_000 if kind == "ivfpq" else 0)), replace=False)
        )
        index.train(matrix.take(train_rows))
    step = chunk_rows(dim, 64 * 2**20)
    for _, vectors in tqdm(
        matrix.chunks(step), total=-(-n // step), desc=f"Indexing ({kind})", disable=not show_progress
    ):
        index.add(vectors)
    params["build_seconds"] = round(time.perf_counter() - started, 2)
    return SearchIndex(kind, matrix, index, params, budget)


def recall_at(approx: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Mean share of each query's exact top-``k`` found in its approximate top-``k``."""
    k = min(k, exact.shape[1], approx.shape[1])
    a, e = approx[:, :k], exact[:, :k]
    hits = ((a[:, :, None] == e[:, None, :]) & (e[:, None, :] >= 0)).any(axis=1).sum(axis=1)
    return float(np.mean(hits / np.maximum((e >= 0).sum(axis=1), 1)))


def tune_index(
    index: SearchIndex, queries: np.ndarray, depth: int, *, target: float = 0.95, k: int = 10
) -> dict[str, Any]:
    """Tune ``nprobe``/``efSearch`` on half of ``queries`` for recall@``k`` >= ``target``; report on the other half.

    Returns ``{"recall@k", "recall@depth", "sample_queries", "tuned_on", "target", "probe"}``
    (recall on the held-out half; an exact index reports 1.0 without searching).
    """
    half = len(queries) // 2
    tune, report = queries[:half], queries[half:]
    out: dict[str, Any] = {"target": target, "sample_queries": len(report), "tuned_on": len(tune)}
    if index.kind == "exact":
        return {**out, f"recall@{k}": 1.0, f"recall@{depth}": 1.0, "probe": None}
    exact_tune = exact_search(tune, index.matrix, k, index.budget_bytes)[1]
    probes = _PROBES[index.kind]
    if index.kind != "hnsw":
        probes = [p for p in probes if p < index.params["nlist"]] + [index.params["nlist"]]
    chosen, previous = probes[-1], -1.0
    for probe in probes:  # searched at the mining depth: HNSW's beam and IVF-PQ's shortlist grow with it
        index.set_probe(probe)
        recall = recall_at(index.search(tune, depth)[1], exact_tune, k)
        if recall >= min(target + _MARGIN, 1.0) or recall - previous < _SATURATED:
            chosen = probe  # reached, or more probing stopped paying (IVF-PQ's shortlist caps its recall)
            break
        previous = recall
    index.set_probe(chosen)
    exact_report = exact_search(report, index.matrix, depth, index.budget_bytes)[1]
    found = index.search(report, depth)[1]
    return {
        **out,
        f"recall@{k}": round(recall_at(found, exact_report, k), 4),
        f"recall@{depth}": round(recall_at(found, exact_report, depth), 4),
        "probe": chosen,
    }
