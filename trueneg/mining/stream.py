"""Mining at scale: embeddings on disk, an (approximate) index, query chunks, rows streamed to the output.

:func:`mine_to_file` runs the same per-query pipeline as :func:`~trueneg.mining.mine.mine_negatives`
(dense retriever) in bounded memory:

1. Corpus and query embeddings come from files (``corpus_embeddings`` / ``query_embeddings``,
   see :func:`~trueneg.candidates.embeddings.open_embeddings`) or are encoded shard by shard into
   a memory-mapped store (:func:`~trueneg.candidates.embeddings.encode_to_store`).
2. An index is built (:mod:`trueneg.candidates.index`: exact, IVF-Flat, IVF-PQ or HNSW, ``"auto"``
   by corpus size and memory) and tuned on a sample of queries; its recall@10 against exact search
   on held-out sample queries is reported in ``summary["index"]``.
3. With ``max_fn_rate`` / ``estimate_fn`` the false-negative model is fit once on a sample of
   ``fn_sample`` queries (:func:`~trueneg.pu.fit_detector`; above ``LEXICAL_MAX_DOCS`` documents without
   the BM25 signals, which need a pass over the corpus per query) and the probability
   cutoff is chosen on that sample; both are then applied unchanged to every chunk.
4. Queries are processed in chunks (size from ``max_memory``); each chunk's rows are appended to
   the output as soon as they exist, and the file is renamed into place only when all are written.

Every per-query decision depends only on that query (random keys are hashed from the query and
document, the FN model and cutoff are fixed before the chunks run), so the rows do not depend on
the chunk size or on the engine: ``engine="ray"`` runs the chunks as a Ray Data pipeline (on the
local machine, or on the cluster ``RAY_ADDRESS`` points at) and writes the same rows. Workers search
with the driver's BLAS and OpenMP thread counts (``threadpoolctl``): BLAS rounds differently with
another thread count, which moves scores in the 7th digit. On a cluster of other CPUs the scores
can still differ in the last written digit (and a candidate exactly on a filter threshold could flip).

The audit runs the same way (:func:`trueneg.audit.audit_at_scale`, built on :func:`scaled_miner`).

Memory: the index (flat vectors for exact/IVF-Flat/HNSW, ~``dim/8`` bytes per document for IVF-PQ),
one query chunk, and the dataset itself (ids, texts and qrels stay in memory: about the size of
the text files). One caveat on equality: the near-duplicate filter weights terms by IDF over the
texts of one chunk, so with it enabled a borderline pair can flip between chunk sizes (not
between engines, which share the chunks).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from trueneg.candidates.dense import pair_scores
from trueneg.candidates.embeddings import EmbeddingMatrix, encode_to_store, open_embeddings
from trueneg.candidates.encoders import DEFAULT_MODEL
from trueneg.candidates.index import SearchIndex, build_index, parse_memory, tune_index
from trueneg.candidates.pool import CandidatePool, judged_sets, positive_pairs
from trueneg.data.dataset import DataError, RetrievalData
from trueneg.io import RowWriter
from trueneg.mining.config import FIELDS, build_config
from trueneg.mining.mine import DROP_REASONS, _stats, explain_empty, mine_negatives
from trueneg.mining.result import FORMATS
from trueneg.pu import Evidence, fit_detector

ENGINES = ("local", "ray")
LEXICAL_MAX_DOCS = 200_000  # above this the streamed detector leaves out the BM25 signals
FILTER_OPTIONS = (
    "sampling", "perc_pos", "margin", "max_score", "min_score", "near_duplicate", "simans_a", "simans_b",
    "fn_action", "relabel_probability", "max_inferred", "drop_query_count",
)  # fmt: skip
_SUMMED = (
    "candidates",
    "not_sampled",
    "negatives_emitted",
    "judged_negatives_emitted",
    "queries_short_of_negatives",
    "queries_without_negatives",
)


@dataclass
class ChunkMiner:
    """Everything one chunk needs; picklable, so Ray workers receive it whole (the index as bytes)."""

    data: RetrievalData
    query_ids: list[str]
    query_rows: np.ndarray
    queries: EmbeddingMatrix
    corpus: EmbeddingMatrix
    width: int
    format: str
    options: dict[str, Any]
    fn_model: Any = None
    fn_cutoff: float | None = None
    threads: dict[str, int] = field(default_factory=dict)
    index: SearchIndex | None = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        """The index travels serialized (FAISS objects do not pickle); unpickling rebuilds it."""
        index = self.index
        return {
            **self.__dict__,
            "index": None,
            "_blob": (index.kind, index.to_bytes(), index.params, index.budget_bytes),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        kind, blob, params, budget = state.pop("_blob")
        self.__dict__.update(state)
        self.index = SearchIndex.from_bytes(kind, self.corpus, blob, params, budget)

    def pool(self, start: int, stop: int) -> CandidatePool:
        """Candidates of the mined queries ``start:stop`` (positions in ``query_ids``)."""
        ids = self.query_ids[start:stop]
        q_vec = self.queries.take(self.query_rows[start:stop])
        # the driver's BLAS/OpenMP thread counts, set in the calling thread (OpenMP's setting is per
        # thread, and Ray runs actor calls on another thread than the constructor): same rounding
        with threadpool_limits(limits=self.threads):
            scores, cand = self.index.search(q_vec, self.width)
        positives, negatives = judged_sets(self.data, ids)
        pos_q, pos_d = positive_pairs(positives)
        pos_scores = pair_scores(q_vec, self.corpus.take(pos_d), pos_q, np.arange(len(pos_d)))
        texts = [self.data.query_texts[self.data.query_index(q)] for q in ids]
        return CandidatePool(ids, texts, cand, scores, positives, negatives, pos_q, pos_d, pos_scores)

    def __call__(self, start: int, stop: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Rows of the queries ``start:stop`` and the chunk's summary parts."""
        pool = self.pool(start, stop)
        estimate = None if self.fn_model is None else self.fn_model.predict(pool, self.fn_model.evidence_)
        result = mine_negatives(
            self.data, pool=pool, fn_estimate=estimate, fn_cutoff=self.fn_cutoff, show_progress=False, **self.options
        )
        parts = {
            "summary": result.summary,
            "positive": np.concatenate(result.positive_scores),
            "anchor": np.array([s.min() for s in result.positive_scores], dtype=np.float32),
            "negative": result.negative_scores[result.negatives >= 0],
        }
        return result.to_rows(self.format), parts


def _sample(n: int, size: int, seed: int, salt: int) -> np.ndarray:
    return np.sort(np.random.default_rng([seed, salt]).choice(n, size=min(size, n), replace=False))


def mine_to_file(
    data: RetrievalData,
    output: str | os.PathLike,
    model: Any = None,
    *,
    format: str = "flagembedding",
    corpus_embeddings: str | os.PathLike | None = None,
    query_embeddings: str | os.PathLike | None = None,
    index: str = "auto",
    max_memory: str | int = "4GiB",
    target_recall: float = 0.95,
    recall_sample: int = 1000,
    fn_sample: int = 2000,
    chunk_queries: int | None = None,
    engine: str = "local",
    ray_workers: int | None = None,
    backend: str = "torch",
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    batch_size: int = 32,
    cache_dir: Any = None,
    num_negatives: int = 10,
    range_min: int = 0,
    range_max: int | None = None,
    max_fn_rate: float | None = None,
    estimate_fn: bool = False,
    fn_estimator: str = "roc",
    fn_detector: Any = "multi",
    seed: int = 0,
    allow_empty: bool = True,
    show_progress: bool = True,
    **filters: Any,
) -> dict[str, Any]:
    """Mine negatives for every query of ``data`` into ``output`` in bounded memory (see the module docstring).

    Args:
        data: corpus, queries and qrels. output: ``.jsonl`` or ``.parquet`` rows of ``format``.
        model / backend / prompts / batch_size / cache_dir: the encoder, used only for the side whose
            embeddings are not given.
        corpus_embeddings / query_embeddings: ``.npy`` (rows in corpus / queries order) or ``.parquet``
            (id + vector columns); validated against the ids.
        index: ``"auto"``, ``"exact"``, ``"ivf"``, ``"ivfpq"`` or ``"hnsw"``.
        max_memory: budget for the index and one chunk of queries (``"4GiB"``, bytes, ...).
        target_recall: recall@10 against exact search the approximate index is tuned to reach.
        recall_sample: sample queries for tuning (half) and the reported recall (other half).
        fn_sample: queries the false-negative model and the ``max_fn_rate`` cutoff are fit on.
        chunk_queries: queries per chunk; default from ``max_memory`` (at most 8192).
        engine: ``"local"`` (this process) or ``"ray"`` (Ray Data; needs ``pip install 'trueneg[ray]'``).
        ray_workers: concurrent Ray workers; default one per CPU Ray sees.
        num_negatives / range_min / range_max / max_fn_rate / estimate_fn / fn_estimator / fn_detector / seed and
            ``filters`` (``sampling``, ``perc_pos``, ``margin``, ``max_score``, ``min_score``,
            ``near_duplicate``, ``simans_a``, ``simans_b``): as in :func:`mine_negatives`.
        allow_empty: with False, raise (and write nothing) when no query gets a negative.

    Returns:
        The summary (as ``mine_negatives``' summary, plus ``index``, ``chunks``, ``engine``,
        ``rows_written`` and ``output``).

    Example:
        >>> summary = mine_to_file(data, "negs.jsonl", corpus_embeddings="corpus.npy",
        ...                        query_embeddings="queries.npy", index="ivf")  # doctest: +SKIP
        >>> summary["index"]["recall@10"]  # doctest: +SKIP
        0.97
    """
    started = time.perf_counter()
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    unknown = set(filters) - set(FILTER_OPTIONS)
    if unknown:
        raise TypeError(f"mine_to_file got unexpected options: {', '.join(sorted(unknown))}")
    RowWriter(output)  # validates the suffix before any work
    range_max = range_min + 10 * num_negatives if range_max is None else range_max
    build_config(
        num_negatives=num_negatives,
        backend=backend,
        range_min=range_min,
        range_max=range_max,
        max_fn_rate=max_fn_rate,
        **{k: v for k, v in filters.items() if k in FIELDS},
    )  # fmt: skip (validates)
    options = dict(
        num_negatives=num_negatives, range_min=range_min, range_max=range_max, max_fn_rate=max_fn_rate,
        estimate_fn=estimate_fn, fn_estimator=fn_estimator, fn_detector=fn_detector, seed=seed, **filters,
    )  # fmt: skip
    setup = dict(
        corpus_embeddings=corpus_embeddings, query_embeddings=query_embeddings, index=index, max_memory=max_memory,
        target_recall=target_recall, recall_sample=recall_sample, fn_sample=fn_sample, chunk_queries=chunk_queries,
        backend=backend, query_prompt=query_prompt, document_prompt=document_prompt, batch_size=batch_size,
        cache_dir=cache_dir, show_progress=show_progress,
    )  # fmt: skip
    run = _run_ray if engine == "ray" else _run_local
    setup["map_shards"] = functools.partial(run, workers=ray_workers, show_progress=show_progress)
    with (
        _ray_session() if engine == "ray" else contextlib.nullcontext(),
        scaled_miner(data, model, depth=range_max, format=format, options=options, **setup) as (miner, info),
        RowWriter(output) as writer,
    ):
        parts = []
        for rows, chunk_parts in run(miner, info["bounds"], ray_workers, show_progress, "Mining chunks"):
            writer.write(rows)
            parts.append(chunk_parts)
        summary = _merge(parts, data, miner.query_ids, miner, info["fit_on"])
        if not allow_empty and writer.rows_written == 0:
            raise ValueError(explain_empty(summary))  # before the rename: nothing is written
    summary.update(
        source=data.source,
        retriever="dense",
        **info["describe"],
        engine=engine,
        rows_written=writer.rows_written,
        output=str(output),
        format=format,
        seconds=round(time.perf_counter() - started, 2),
    )
    return summary


@contextlib.contextmanager
def scaled_miner(
    data: RetrievalData,
    model: Any = None,
    *,
    depth: int,
    format: str,
    options: dict[str, Any],
    corpus_embeddings: str | os.PathLike | None = None,
    query_embeddings: str | os.PathLike | None = None,
    index: str = "auto",
    max_memory: str | int = "4GiB",
    target_recall: float = 0.95,
    recall_sample: int = 1000,
    fn_sample: int = 2000,
    chunk_queries: int | None = None,
    backend: str = "torch",
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    batch_size: int = 32,
    cache_dir: Any = None,
    show_progress: bool = True,
    map_shards: Any = None,
) -> Iterator[tuple[ChunkMiner, dict[str, Any]]]:
    """Steps 1-3 of the module docstring: a :class:`ChunkMiner` for ``data`` plus the chunk bounds.

    Yields ``(miner, info)``; ``info`` holds ``bounds`` (query chunks), ``fit_on`` (queries the FN
    model was fit on, or None) and ``describe`` (summary fields: embeddings, index and its recall,
    chunking). Files encoded on the way live until the block ends. ``map_shards(work, bounds,
    desc=...)`` runs the encoding shards (default: in this process).
    """
    budget = parse_memory(max_memory)
    if not 0.0 < target_recall <= 1.0:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
    query_ids = data.mined_query_ids()
    if not query_ids:
        raise ValueError(f"{data.source}: no query has a positive judgment (grade > 0); nothing to mine")
    seed = options.get("seed", 0)
    with tempfile.TemporaryDirectory(prefix="trueneg-stream-") as work:
        corpus, queries, query_rows, encoded = _embeddings(
            data, query_ids, model, corpus_embeddings, query_embeddings, Path(work), backend,
            query_prompt, document_prompt, batch_size, cache_dir, show_progress, map_shards,
        )  # fmt: skip
        if corpus.dim != queries.dim:
            raise DataError(f"{queries.path}: query vectors have {queries.dim} dimensions, corpus vectors {corpus.dim}")
        search_index = build_index(
            corpus, index, n_queries=len(query_ids), max_memory=budget, seed=seed, show_progress=show_progress
        )
        max_pos = max(sum(g > 0 for g in data.qrels[q].values()) for q in query_ids)
        width = min(depth + max_pos, len(corpus))
        sample = _sample(len(query_ids), recall_sample, seed, 1)
        recall = tune_index(search_index, queries.take(query_rows[sample]), width, target=target_recall)
        miner = ChunkMiner(
            data, query_ids, query_rows, queries, corpus, width, format, options,
            threads=_thread_counts(), index=search_index,
        )  # fmt: skip
        fit_on = None
        if (
            options.get("max_fn_rate") is not None
            or options.get("estimate_fn")
            or options.get("fn_action", "drop") != "drop"
        ):
            fit_on = _fit_fn(miner, data, query_ids, fn_sample, options.get("fn_estimator", "roc"), seed, options)
        per_query = width * 160 + corpus.dim * 8
        chunk = chunk_queries or int(np.clip((budget // 8) // per_query, 64, 8192))
        bounds = [(s, min(s + chunk, len(query_ids))) for s in range(0, len(query_ids), chunk)]
        given = corpus_embeddings is not None and query_embeddings is not None
        describe = {
            "model": None if given else str(model or DEFAULT_MODEL),
            "backend": None if given else backend,
            "embeddings": {
                "corpus": str(corpus_embeddings or "encoded"),
                "queries": str(query_embeddings or "encoded"),
            },
            "texts_encoded": encoded,
            "index": {"type": search_index.kind, **search_index.params, **recall},
            "chunks": len(bounds),
            "chunk_queries": chunk,
            "max_memory": budget,
        }
        yield miner, {"bounds": bounds, "fit_on": fit_on, "describe": describe}


def _thread_counts() -> dict[str, int]:
    """Threads of each BLAS/OpenMP library loaded here (FAISS's included), by library prefix."""
    import faiss  # noqa: F401  (loads FAISS's OpenBLAS and OpenMP so they are listed)
    from threadpoolctl import threadpool_info

    return {info["prefix"]: info["num_threads"] for info in threadpool_info()}


def _embeddings(
    data: RetrievalData,
    query_ids: list[str],
    model: Any,
    corpus_path: Any,
    query_path: Any,
    work: Path,
    backend: str,
    query_prompt: str | None,
    document_prompt: str | None,
    batch_size: int,
    cache_dir: Any,
    show_progress: bool,
    map_shards: Any,
) -> tuple[EmbeddingMatrix, EmbeddingMatrix, np.ndarray, int | None]:
    """Corpus matrix, query matrix, the matrix row of each mined query, and how many texts were encoded."""
    from trueneg.candidates.encoders import as_encoder

    workdir = work if cache_dir is False else (Path(cache_dir) / "embeddings" if cache_dir else None)
    encoder = None
    if corpus_path is None or query_path is None:
        encoder = as_encoder(
            model, backend=backend, query_prompt=query_prompt, document_prompt=document_prompt,
            batch_size=batch_size, cache_dir=cache_dir, show_progress=show_progress,
        )  # fmt: skip
    if corpus_path is not None:
        corpus = open_embeddings(corpus_path, data.doc_ids, what="corpus", workdir=workdir, show_progress=show_progress)
    else:
        corpus = encode_to_store(
            encoder, data.doc_texts, "document", work / "corpus.npy", show_progress=show_progress, map_shards=map_shards
        )
    if query_path is not None:
        queries = open_embeddings(
            query_path, data.query_ids, what="queries", workdir=workdir, show_progress=show_progress
        )
        rows = np.array([data.query_index(q) for q in query_ids], dtype=np.int64)
    else:
        texts = [data.query_texts[data.query_index(q)] for q in query_ids]
        queries = encode_to_store(
            encoder, texts, "query", work / "queries.npy", show_progress=show_progress, map_shards=map_shards
        )
        rows = np.arange(len(query_ids), dtype=np.int64)
    return corpus, queries, rows, getattr(encoder, "encoded_count", None)


def _fit_fn(
    miner: ChunkMiner,
    data: RetrievalData,
    query_ids: list[str],
    fn_sample: int,
    estimator: str,
    seed: int,
    options: dict[str, Any],
) -> int:
    """Fit the false-negative model (and the ``max_fn_rate`` cutoff) on a sample of queries."""
    picked = _sample(len(query_ids), fn_sample, seed, 2)
    sample = replace(miner, query_ids=[query_ids[i] for i in picked], query_rows=miner.query_rows[picked])
    pool = sample.pool(0, len(picked))
    # the lexical signals need a BM25 index over the whole corpus and a pass over it per query: used up to
    # LEXICAL_MAX_DOCS documents (documented in the README); the other signals cost one gather each
    lexical = len(data.doc_ids) <= LEXICAL_MAX_DOCS
    evidence = Evidence(data, miner.corpus, query_ids, miner.queries, miner.query_rows, lexical=lexical)
    miner.fn_model = fit_detector(pool, detector=options.get("fn_detector", "multi"), estimator=estimator, seed=seed,
                                  evidence=evidence)  # fmt: skip
    if options["max_fn_rate"] is not None:
        result = mine_negatives(
            data, pool=pool, fn_estimate=miner.fn_model.predict(pool, evidence), show_progress=False, **options
        )
        miner.fn_cutoff = result.summary["false_negatives"]["cutoff"]
    return len(picked)


def _run_local(work: Any, bounds: list[tuple[int, int]], workers: Any, show_progress: bool, desc: str) -> Any:
    for start, stop in tqdm(bounds, desc=desc, disable=not show_progress):
        yield work(start, stop)


class _RayWorker:
    """Ray Data actor: fetches the shared work object once, then runs it on one ``(start, stop)`` per row."""

    def __init__(self, work_ref: list[Any]) -> None:
        import ray

        self.work = ray.get(work_ref[0])

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        blobs = [pickle.dumps(self.work(int(s), int(e))) for s, e in zip(batch["start"], batch["stop"])]
        return {"start": batch["start"], "payload": np.array(blobs, dtype=object)}


@contextlib.contextmanager
def _ray_session() -> Iterator[None]:
    """Connect to Ray (``RAY_ADDRESS`` or a local instance started here, and stopped at the end)."""
    try:
        import ray
    except ImportError as exc:
        raise ValueError("--engine ray needs Ray Data: pip install 'trueneg[ray]'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def _run_ray(work: Any, bounds: list[tuple[int, int]], workers: int | None, show_progress: bool, desc: str) -> Any:
    """``work(start, stop)`` over ``bounds`` as a Ray Data pipeline; results come back in order."""
    import ray

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = show_progress
    workers = workers or max(1, int(ray.available_resources().get("CPU", 1)))
    items = [{"start": s, "stop": e} for s, e in bounds]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _RayWorker,
        fn_constructor_kwargs={"work_ref": [ray.put(work)]},
        batch_size=1,
        concurrency=min(workers, len(items)),
        num_cpus=1,
    )
    for row in dataset.iter_rows():
        yield pickle.loads(row["payload"])


def _merge(
    parts: list[dict[str, Any]], data: RetrievalData, query_ids: list[str], miner: ChunkMiner, fit_on: int | None
) -> dict[str, Any]:
    """One summary from the chunks' summaries and score arrays."""
    first = parts[0]["summary"]
    summary = {key: first[key] for key in ("sampling", "num_negatives", "range", "filters", "teacher")}
    summary["queries"] = len(query_ids)
    summary["queries_without_positive"] = len(data.qrels) - len(query_ids)
    for key in _SUMMED:
        summary[key] = sum(p["summary"][key] for p in parts)
    summary["dropped"] = {r: sum(p["summary"]["dropped"][r] for p in parts) for r in DROP_REASONS}
    summary["short_query_ids"] = [q for p in parts for q in p["summary"]["short_query_ids"]][:20]
    summary["scores"] = {
        "positive": _stats(np.concatenate([p["positive"] for p in parts])),
        "anchor_positive": _stats(np.concatenate([p["anchor"] for p in parts])),
        "negative": _stats(np.concatenate([p["negative"] for p in parts])),
    }
    actions = [p["summary"]["fn_action"] for p in parts]
    summary["fn_action"] = {
        **{k: actions[0][k] for k in ("action", "relabel_probability")},
        **{k: sum(a[k] for a in actions) for k in ("relabeled", "queries_relabeled", "queries_dropped")},
    }
    summary["false_negatives"] = None
    if miner.fn_model is not None:
        emitted = np.array([p["summary"]["negatives_emitted"] for p in parts], dtype=np.float64)
        rates = np.array([[p["summary"]["false_negatives"][k] for k in ("estimated_fn_rate", "ci_low", "ci_high")]
                          for p in parts])  # fmt: skip
        rate = (emitted @ rates / max(emitted.sum(), 1.0)).tolist()  # per-chunk means, weighted by emitted
        model = miner.fn_model
        summary["false_negatives"] = {
            "detector": model.describe(),
            "estimator": model.estimator,
            "label_frequency": round(model.label_frequency_, 4),
            "label_frequency_ci": [round(v, 4) for v in model.label_frequency_ci_],
            "max_fn_rate": first["false_negatives"]["max_fn_rate"],
            "cutoff": None if miner.fn_cutoff is None else round(float(miner.fn_cutoff), 6),
            "fit_on_queries": fit_on,
            "estimated_fn_rate": round(rate[0], 5),
            "ci_low": round(rate[1], 5),
            "ci_high": round(rate[2], 5),
        }
    return summary
