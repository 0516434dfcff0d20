"""Mining at scale: embeddings on disk, an (approximate) index, query chunks, rows streamed to the output.

The index source of the engine (:mod:`trueneg.mining.engine`): :func:`~trueneg.mining.engine.mine_to_file`
runs the same per-query pipeline as :func:`~trueneg.mining.mine_negatives` (dense retriever) in bounded
memory:

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

The audit runs the same way (:func:`trueneg.audit.audit_at_scale`, through the same engine).

Memory: the index (flat vectors for exact/IVF-Flat/HNSW, ~``dim/8`` bytes per document for IVF-PQ),
one query chunk, and the dataset itself (ids, texts and qrels stay in memory: about the size of
the text files). One caveat on equality: the near-duplicate filter weights terms by IDF over the
texts of one chunk, so with it enabled a borderline pair can flip between chunk sizes (not
between engines, which share the chunks).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from trueneg import signals
from trueneg.candidates.dense import pair_scores
from trueneg.candidates.embeddings import EmbeddingMatrix, encode_to_store, open_embeddings
from trueneg.candidates.encoders import CacheDir, Encoder, describe_encoder
from trueneg.candidates.index import SearchIndex, build_index, parse_memory, tune_index
from trueneg.candidates.pool import CandidatePool, judged_sets, pool_width, positive_pairs
from trueneg.data.dataset import DataError, RetrievalData
from trueneg.io import work_dir
from trueneg.mining.config import MiningConfig, ScaleConfig
from trueneg.mining.engine import Fitted, Inputs, Mined
from trueneg.mining.result import MiningResult
from trueneg.mining.stages import fn_cutoff_on, mine_pool
from trueneg.mining.summary import MiningSummary
from trueneg.pu import Evidence, FalseNegativeEstimate, fit_detector
from trueneg.pu.detector import DetectorLike
from trueneg.validation import require_extra

__all__ = ["ChunkMiner", "fit_on_sample", "open_index", "ray_session", "run_local", "run_ray"]
LEXICAL_MAX_DOCS = 200_000  # above this the streamed detector leaves out the BM25 signals


@dataclass
class ChunkMiner:
    """The index source: everything one chunk needs; picklable, so Ray workers receive it whole (the index as bytes).

    ``bounds`` are the query chunks, ``describe`` the summary fields of the embeddings, the index and the
    chunking; :func:`~trueneg.mining.engine.drive` sets ``fn_model`` and ``fn_cutoff`` from the fit.
    """

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
    bounds: list[tuple[int, int]] = field(default_factory=list)
    describe: dict[str, Any] = field(default_factory=dict)
    fit_policy: Literal["out-of-fold", "sample"] = "sample"
    teacher: Any = None  # a mining run's TeacherScorer: rescoring of every chunk (the detector's is in fn_model)

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
        return mine_pool(self.data, pool, self.config, teacher=self.teacher, fn_estimate=estimate,
                         fn_cutoff=self.fn_cutoff, show_progress=False)  # fmt: skip

    def mined(self, start: int, stop: int) -> Mined:
        """The pool of the queries ``start:stop``, the fixed model's estimate on it and what was mined."""
        pool = self.pool(start, stop)
        estimate = None if self.fn_model is None else self.fn_model.predict(pool, self.fn_model.evidence_)
        return Mined(pool, estimate, self.mine(pool, estimate))

    def __call__(self, start: int, stop: int) -> tuple[list[dict[str, Any]], MiningSummary]:
        """Rows of the queries ``start:stop`` and the chunk's summary (what travels back from a Ray worker)."""
        result = self.mine(self.pool(start, stop))
        return result.to_rows(self.format, extra_columns=True), result.summary  # split when written


def _sample(n: int, size: int, seed: int, salt: int) -> np.ndarray:
    return np.sort(np.random.default_rng([seed, salt]).choice(n, size=min(size, n), replace=False))


@contextlib.contextmanager
def open_index(
    data: RetrievalData,
    encoder: Encoder | None,
    config: MiningConfig,
    scale: ScaleConfig,
    *,
    depth: int,
    format: str,
    inputs: Inputs,
    map_shards: Callable[..., Any] | None = None,
    teacher: Any = None,
) -> Iterator[ChunkMiner]:
    """Steps 1-2 and the chunking of the module docstring: the :class:`ChunkMiner` of ``data``.

    Files encoded on the way live until the block ends. ``map_shards(work, bounds, desc=...)`` runs the
    encoding shards (default: in this process). ``encoder`` may be None when both embedding files are given.
    ``teacher``: a :class:`~trueneg.mining.teacher.TeacherScorer` that rescores every chunk.
    """
    budget = parse_memory(scale.max_memory)
    query_ids = data.mined_query_ids()
    seed, show, files = config.seed, inputs.show_progress, (inputs.corpus_embeddings, inputs.query_embeddings)
    with work_dir("trueneg-stream") as work:
        corpus, queries, query_rows, encoded = _embeddings(
            data, query_ids, encoder, *files, Path(work), inputs.cache_dir, show, map_shards
        )
        if corpus.dim != queries.dim:
            raise DataError(f"{queries.path}: query vectors have {queries.dim} dimensions, corpus vectors {corpus.dim}")
        search_index = build_index(
            corpus, scale.index, n_queries=len(query_ids), max_memory=budget, seed=seed, show_progress=show
        )
        width = pool_width(data, query_ids, depth, len(corpus))
        sample = _sample(len(query_ids), scale.recall_sample, seed, 1)
        recall = tune_index(search_index, queries.take(query_rows[sample]), width, target=scale.target_recall)
        per_query = width * 160 + corpus.dim * 8
        chunk = scale.chunk_queries or int(np.clip((budget // 8) // per_query, 64, 8192))
        bounds = [(s, min(s + chunk, len(query_ids))) for s in range(0, len(query_ids), chunk)]
        model, backend = (None, None) if None not in files else describe_encoder(encoder)
        describe = {
            "model": model,
            "backend": backend,
            "embeddings": {"corpus": str(files[0] or "encoded"), "queries": str(files[1] or "encoded")},
            "texts_encoded": encoded,
            "index": {"type": search_index.kind, **search_index.params, **recall},
            "chunks": len(bounds),
            "chunk_queries": chunk,
            "max_memory": budget,
        }
        yield ChunkMiner(
            data, query_ids, query_rows, queries, corpus, width, format, config, threads=_thread_counts(),
            index=search_index, bounds=bounds, describe=describe, teacher=teacher,
        )  # fmt: skip


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


def fit_on_sample(
    miner: ChunkMiner, config: MiningConfig, fn_sample: int, detector: DetectorLike, scorer: Any = None
) -> Fitted:
    """The false-negative model (and the ``max_fn_rate`` cutoff) fit once on a sample of ``fn_sample`` queries.

    ``scorer``: a teacher's :class:`~trueneg.mining.teacher.TeacherScorer`; the model's evidence keeps it, so every
    chunk it scores gets the ``teacher_*`` signals too.
    """
    data, query_ids = miner.data, miner.query_ids
    picked = _sample(len(query_ids), fn_sample, config.seed, 2)
    sample = replace(miner, query_ids=[query_ids[i] for i in picked], query_rows=miner.query_rows[picked])
    pool = sample.pool(0, len(picked))
    # the lexical signals need a BM25 index over the whole corpus and a pass over it per query: used up to
    # LEXICAL_MAX_DOCS documents (documented in the README); the other signals cost one gather each
    lexical = len(data.doc_ids) <= LEXICAL_MAX_DOCS
    evidence = Evidence(data, miner.corpus, query_ids, miner.queries, miner.query_rows, lexical=lexical,
                        teacher=scorer)  # fmt: skip
    model = fit_detector(pool, detector=detector, estimator=config.fn_estimator, seed=config.seed, evidence=evidence)
    cutoff = None
    if config.max_fn_rate is not None:
        cutoff = fn_cutoff_on(data, pool, config, model.predict(pool, evidence))
    return Fitted(model=model, cutoff=cutoff, fit_on=len(picked))


def run_local(work: Any, bounds: list[tuple[int, int]], workers: Any, show_progress: bool, desc: str) -> Any:
    """``work(start, stop)`` over ``bounds`` in this process, with a progress bar; Ctrl-C stops between chunks."""
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
def ray_session() -> Iterator[None]:
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


def run_ray(work: Any, bounds: list[tuple[int, int]], workers: int | None, show_progress: bool, desc: str) -> Any:
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
