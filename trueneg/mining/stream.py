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
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from trueneg import signals
from trueneg.candidates.dense import pair_scores
from trueneg.candidates.embeddings import EmbeddingMatrix, encode_to_store, open_embeddings
from trueneg.candidates.encoders import (
    CacheDir,
    Encoder,
    ModelLike,
    describe_encoder,
    encoder_for,
    pop_encoder_settings,
)
from trueneg.candidates.index import SearchIndex, build_index, parse_memory, tune_index
from trueneg.candidates.pool import CandidatePool, judged_sets, positive_pairs
from trueneg.config import C
from trueneg.data.dataset import DataError, RetrievalData
from trueneg.io import RowWriter, check_rows_suffix, work_dir
from trueneg.mining.config import ENGINES, MiningConfig, ScaleConfig
from trueneg.mining.mine import explain_empty, mine_negatives, mine_pool
from trueneg.mining.result import FORMATS, MiningResult, remove_stale_sidecar, sidecar_path, split_rows
from trueneg.mining.summary import MiningSummary
from trueneg.pu import Evidence, FalseNegativeEstimate, fit_detector
from trueneg.pu.detector import DetectorLike
from trueneg.validation import check_one_of, require_extra

__all__ = ["ENGINES", "ChunkMiner", "mine_to_file", "scaled_miner", "write_negatives"]
LEXICAL_MAX_DOCS = 200_000  # above this the streamed detector leaves out the BM25 signals


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
    config: MiningConfig
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

    def mine(self, pool: CandidatePool, estimate: FalseNegativeEstimate | None = None) -> MiningResult:
        """:func:`~trueneg.mining.mine_pool` on ``pool`` with the fixed false-negative model and cutoff."""
        if estimate is None and self.fn_model is not None:
            estimate = self.fn_model.predict(pool, self.fn_model.evidence_)
        return mine_pool(self.data, pool, self.config, fn_estimate=estimate, fn_cutoff=self.fn_cutoff,
                         show_progress=False)  # fmt: skip

    def __call__(self, start: int, stop: int) -> tuple[list[dict[str, Any]], MiningSummary]:
        """Rows of the queries ``start:stop`` and the chunk's summary."""
        result = self.mine(self.pool(start, stop))
        return result.to_rows(self.format, extra_columns=True), result.summary  # split when written


def _sample(n: int, size: int, seed: int, salt: int) -> np.ndarray:
    return np.sort(np.random.default_rng([seed, salt]).choice(n, size=min(size, n), replace=False))


def mine_to_file(
    data: RetrievalData,
    output: str | os.PathLike,
    model: ModelLike = None,
    config: MiningConfig | None = None,
    scale: ScaleConfig | None = None,
    *,
    format: str = "flagembedding",
    corpus_embeddings: str | os.PathLike | None = None,
    query_embeddings: str | os.PathLike | None = None,
    fn_detector: DetectorLike = "multi",
    cache_dir: CacheDir = None,
    allow_empty: bool = True,
    show_progress: bool = True,
    extra_columns: bool = False,
    **options: Any,
) -> MiningSummary:
    """Mine negatives for every query of ``data`` into ``output`` in bounded memory (see the module docstring).

    Args:
        data: corpus, queries and qrels. output: ``.jsonl`` or ``.parquet`` rows of ``format``.
        model: the :class:`~trueneg.candidates.Encoder` (or a model name), used only for the side whose
            embeddings are not given; ``cache_dir`` is its embedding cache.
        config: the :class:`~trueneg.mining.config.MiningConfig` (dense retriever, no teacher or judges:
            those need the in-memory :func:`~trueneg.mining.mine_negatives`).
        scale: the :class:`~trueneg.mining.config.ScaleConfig`: index, memory budget, recall target,
            sample sizes, chunking and engine.
        corpus_embeddings / query_embeddings: ``.npy`` (rows in corpus / queries order) or ``.parquet``
            (id + vector columns); validated against the ids.
        fn_detector: as in :func:`~trueneg.mining.mine_negatives`.
        allow_empty: with False, raise (and write nothing) when no query gets a negative.
        options: fields of either config by name (they override it), and the deprecated encoder
            settings (``backend``, prompts, ``batch_size``).

    Returns:
        The :class:`~trueneg.mining.summary.MiningSummary` (as ``mine_negatives``' summary, plus ``index``,
        ``chunks``, ``engine``, ``rows_written`` and ``output``).

    Example:
        >>> summary = mine_to_file(data, "negs.jsonl", corpus_embeddings="corpus.npy",
        ...                        query_embeddings="queries.npy", index="ivf")  # doctest: +SKIP
        >>> summary["index"]["recall@10"]  # doctest: +SKIP
        0.97
    """
    started = time.perf_counter()
    check_output(output, format)  # before any work
    cfg, scale, encoder = scale_setup(
        MiningConfig, config, scale, options, model, cache_dir=cache_dir, show_progress=show_progress,
        caller="mine_to_file",
    )  # fmt: skip
    run = _run_ray if scale.engine == "ray" else _run_local
    map_shards = functools.partial(run, workers=scale.ray_workers, show_progress=show_progress)
    with (
        _ray_session() if scale.engine == "ray" else contextlib.nullcontext(),
        scaled_miner(
            data, encoder, cfg, scale, depth=cfg.window[1], format=format, fn_detector=fn_detector,
            corpus_embeddings=corpus_embeddings, query_embeddings=query_embeddings, cache_dir=cache_dir,
            show_progress=show_progress, map_shards=map_shards,
        ) as (miner, info),
        RowWriter(output) as writer,
        contextlib.ExitStack() as sidecar,
    ):  # fmt: skip
        parts, extras = [], None
        for rows, part in run(miner, info["bounds"], scale.ray_workers, show_progress, "Mining chunks"):
            main, extra = (rows, []) if extra_columns else split_rows(rows, format, writer.rows_written)
            writer.write(main)
            if extra:
                extras = extras or sidecar.enter_context(RowWriter(sidecar_path(output)))
                extras.write(extra)
            parts.append(part)
        summary = _merge(parts, data, miner, info)
        if not allow_empty and writer.rows_written == 0:
            raise ValueError(explain_empty(summary))  # before the rename: nothing is written
    if extras is None and not extra_columns:
        remove_stale_sidecar(output)
    summary.extra.update(engine=scale.engine, rows_written=writer.rows_written, output=str(output), format=format)
    summary.seconds = round(time.perf_counter() - started, 2)
    return summary


def scale_setup(
    kind: type[C],
    config: C | None,
    scale: ScaleConfig | None,
    options: dict[str, Any],
    model: Any,
    *,
    cache_dir: CacheDir,
    show_progress: bool,
    caller: str,
) -> tuple[C, ScaleConfig, Encoder]:
    """The settings of a scale-path run: ``options`` split between ``kind``, :class:`ScaleConfig` and the
    (deprecated) encoder settings, the dense retriever checked, the encoder built."""
    settings = pop_encoder_settings(options)
    scale = ScaleConfig.build(scale, **ScaleConfig.take(options))
    cfg = kind.build(config, **options)
    if cfg.retriever != "dense":
        raise ValueError(f"the scale path searches dense embeddings: retriever must be dense, got {cfg.retriever!r}")
    encoder = encoder_for(model, settings, cache_dir=cache_dir, show_progress=show_progress, caller=caller)
    return cfg, scale, encoder


def check_output(output: str | os.PathLike, format: str, inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Raise ``ValueError`` unless ``format`` is one of :data:`FORMATS`, ``output`` ends in .jsonl or .parquet
    and is none of ``inputs`` (the files the run reads)."""
    check_one_of("format", format, FORMATS)
    check_rows_suffix(output, inputs)


def write_negatives(
    data: RetrievalData,
    output: str | os.PathLike,
    model: ModelLike = None,
    config: MiningConfig | None = None,
    scale: ScaleConfig | None = None,
    *,
    format: str = "flagembedding",
    teacher: Any = None,
    fn_detector: DetectorLike = "multi",
    judges: list[Any] | None = None,
    judgments_file: str | os.PathLike | None = None,
    corpus_embeddings: str | os.PathLike | None = None,
    query_embeddings: str | os.PathLike | None = None,
    cache_dir: CacheDir = None,
    allow_empty: bool = False,
    show_progress: bool = True,
    judgments: str | os.PathLike | None = None,
    extra_columns: bool = False,
) -> MiningSummary:
    """What ``trueneg mine`` does: mine ``data`` and write the rows of ``format`` to ``output``, atomically.

    In memory (:func:`~trueneg.mining.mine_negatives`) unless ``scale`` or an embeddings file is given;
    then the scale path (:func:`mine_to_file`), which searches dense embeddings and so needs
    ``retriever="dense"``, no teacher and no judges. With ``allow_empty=False`` a run that emits no
    negative at all raises a ``ValueError`` saying which filter dropped what (and writes nothing).
    The rows are trainer-ready; the extra fields go to the sidecar beside ``output``
    (:func:`~trueneg.mining.result.sidecar_path`) unless ``extra_columns``.

    Returns:
        The summary, with ``output`` and ``format`` added.

    Example:
        >>> summary = write_negatives(data, "negatives.jsonl", config=MiningConfig(num_negatives=4))  # doctest: +SKIP
    """
    check_output(output, format)
    cfg = config or MiningConfig()
    if scale is not None or corpus_embeddings is not None or query_embeddings is not None:
        if teacher is not None or judges or judgments is not None:
            raise ValueError(
                "the scale path (embeddings files, index, memory budget, engine) takes no teacher, no judges and no "
                "judgments: mine in memory for those"
            )
        summary = mine_to_file(
            data, output, model, cfg, scale, format=format, corpus_embeddings=corpus_embeddings,
            query_embeddings=query_embeddings, fn_detector=fn_detector, cache_dir=cache_dir, allow_empty=allow_empty,
            show_progress=show_progress, extra_columns=extra_columns,
        )  # fmt: skip
    else:
        result = mine_negatives(
            data, model, cfg, teacher=teacher, fn_detector=fn_detector, judges=judges, judgments_file=judgments_file,
            cache_dir=cache_dir, show_progress=show_progress, judgments=judgments,
        )  # fmt: skip
        summary = result.summary
        if not allow_empty and summary.negatives_emitted == 0:
            raise ValueError(explain_empty(summary))
        result.write(output, format, extra_columns)
    summary.extra.update(output=str(output), format=format)
    return summary


@contextlib.contextmanager
def scaled_miner(
    data: RetrievalData,
    encoder: Encoder | None,
    config: MiningConfig,
    scale: ScaleConfig,
    *,
    depth: int,
    format: str,
    fn_detector: DetectorLike = "multi",
    corpus_embeddings: str | os.PathLike | None = None,
    query_embeddings: str | os.PathLike | None = None,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
    map_shards: Callable[..., Any] | None = None,
) -> Iterator[tuple[ChunkMiner, dict[str, Any]]]:
    """Steps 1-3 of the module docstring: a :class:`ChunkMiner` for ``data`` plus the chunk bounds.

    Yields ``(miner, info)``; ``info`` holds ``bounds`` (query chunks), ``fit_on`` (queries the FN
    model was fit on, or None) and ``describe`` (summary fields: embeddings, index and its recall,
    chunking). Files encoded on the way live until the block ends. ``map_shards(work, bounds,
    desc=...)`` runs the encoding shards (default: in this process). ``encoder`` may be None when
    both embedding files are given.
    """
    budget = parse_memory(scale.max_memory)
    query_ids = data.mined_query_ids()
    if not query_ids:
        raise ValueError(f"{data.source}: no query has a positive judgment (grade > 0); nothing to mine")
    seed = config.seed
    with work_dir("trueneg-stream") as work:
        corpus, queries, query_rows, encoded = _embeddings(
            data, query_ids, encoder, corpus_embeddings, query_embeddings, Path(work), cache_dir, show_progress,
            map_shards,
        )  # fmt: skip
        if corpus.dim != queries.dim:
            raise DataError(f"{queries.path}: query vectors have {queries.dim} dimensions, corpus vectors {corpus.dim}")
        search_index = build_index(
            corpus, scale.index, n_queries=len(query_ids), max_memory=budget, seed=seed, show_progress=show_progress
        )
        max_pos = max(sum(g > 0 for g in data.qrels[q].values()) for q in query_ids)
        width = min(depth + max_pos, len(corpus))
        sample = _sample(len(query_ids), scale.recall_sample, seed, 1)
        recall = tune_index(search_index, queries.take(query_rows[sample]), width, target=scale.target_recall)
        miner = ChunkMiner(
            data, query_ids, query_rows, queries, corpus, width, format, config,
            threads=_thread_counts(), index=search_index,
        )  # fmt: skip
        fit_on = _fit_fn(miner, data, query_ids, scale.fn_sample, fn_detector) if config.detects else None
        per_query = width * 160 + corpus.dim * 8
        chunk = scale.chunk_queries or int(np.clip((budget // 8) // per_query, 64, 8192))
        bounds = [(s, min(s + chunk, len(query_ids))) for s in range(0, len(query_ids), chunk)]
        given = corpus_embeddings is not None and query_embeddings is not None
        model, backend = (None, None) if given else describe_encoder(encoder)
        describe = {
            "model": model,
            "backend": backend,
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
    encoder: Encoder | None,
    corpus_path: str | os.PathLike | None,
    query_path: str | os.PathLike | None,
    work: Path,
    cache_dir: CacheDir,
    show_progress: bool,
    map_shards: Callable[..., Any] | None,
) -> tuple[EmbeddingMatrix, EmbeddingMatrix, np.ndarray, int | None]:
    """Corpus matrix, query matrix, the matrix row of each mined query, and how many texts were encoded."""
    workdir = work if cache_dir is False else (Path(cache_dir) / "embeddings" if cache_dir else None)
    if (corpus_path is None or query_path is None) and encoder is None:
        raise ValueError("an encoder is needed for the side whose embeddings are not given")
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
    encoded = None if corpus_path is not None and query_path is not None else getattr(encoder, "encoded_count", None)
    return corpus, queries, rows, encoded


def _fit_fn(
    miner: ChunkMiner, data: RetrievalData, query_ids: list[str], fn_sample: int, detector: DetectorLike
) -> int:
    """Fit the false-negative model (and the ``max_fn_rate`` cutoff) on a sample of queries."""
    config = miner.config
    picked = _sample(len(query_ids), fn_sample, config.seed, 2)
    sample = replace(miner, query_ids=[query_ids[i] for i in picked], query_rows=miner.query_rows[picked])
    pool = sample.pool(0, len(picked))
    # the lexical signals need a BM25 index over the whole corpus and a pass over it per query: used up to
    # LEXICAL_MAX_DOCS documents (documented in the README); the other signals cost one gather each
    lexical = len(data.doc_ids) <= LEXICAL_MAX_DOCS
    evidence = Evidence(data, miner.corpus, query_ids, miner.queries, miner.query_rows, lexical=lexical)
    miner.fn_model = fit_detector(pool, detector=detector, estimator=config.fn_estimator, seed=config.seed,
                                  evidence=evidence)  # fmt: skip
    if config.max_fn_rate is not None:
        result = mine_pool(data, pool, config, fn_estimate=miner.fn_model.predict(pool, evidence), show_progress=False)
        miner.fn_cutoff = result.summary["false_negatives"]["cutoff"]
    return len(picked)


def _run_local(work: Any, bounds: list[tuple[int, int]], workers: Any, show_progress: bool, desc: str) -> Any:
    for start, stop in tqdm(bounds, desc=desc, disable=not show_progress):
        signals.check()
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
        require_extra("ray", "ray", "--engine ray")
    except ImportError as exc:
        raise ValueError(str(exc)) from None
    import ray

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
        signals.check()
        yield pickle.loads(row["payload"])


def _merge(parts: list[MiningSummary], data: RetrievalData, miner: ChunkMiner, info: dict[str, Any]) -> MiningSummary:
    """One summary of the chunks' summaries, with the fixed false-negative model's description."""
    describe = dict(info["describe"])
    summary = MiningSummary.merge(
        parts,
        queries=len(miner.query_ids),
        queries_without_positive=len(data.qrels) - len(miner.query_ids),
        model=describe.pop("model"),
        backend=describe.pop("backend"),
        texts_encoded=describe.pop("texts_encoded"),
        extra=describe,
    )
    if miner.fn_model is not None:
        model = miner.fn_model
        fn = summary.false_negatives
        summary.false_negatives = {
            "detector": model.describe(),
            "estimator": model.estimator,
            "label_frequency": round(model.label_frequency_, 4),
            "label_frequency_ci": [round(v, 4) for v in model.label_frequency_ci_],
            "max_fn_rate": fn["max_fn_rate"],
            "cutoff": None if miner.fn_cutoff is None else round(float(miner.fn_cutoff), 6),
            "fit_on_queries": info["fit_on"],
            **{k: fn[k] for k in ("estimated_fn_rate", "ci_low", "ci_high")},
        }
    return summary
