"""One path for every mining and audit run: plan -> fit -> drive.

1. :func:`plan` checks everything once, before any work: the output and its sidecar against the
   run's inputs, the judge log, a teacher, judges or judgments against the path, the retriever of
   the scale path; it builds the encoder and says which source the run reads.
2. :func:`open_source` gives the candidate pools: in memory (one pool of every query, retrieved at
   once; the detector is fit out of fold on it) or through an index (query chunks; the detector is
   fit on a sample of queries, :mod:`trueneg.mining.stream`).
3. :func:`fit` fits the detector and its ``max_fn_rate`` cutoff once, by the source's policy.
4. :func:`drive` maps :func:`~trueneg.mining.stages.mine_pool` over the pools, on this process or Ray,
   into a sink: a file (:class:`FileSink`), the :class:`~trueneg.mining.result.MiningResult`
   (:class:`ResultSink`), or the audit's tally (``trueneg.audit``).

:func:`~trueneg.mining.mine_negatives`, :func:`write_negatives`, :func:`mine_to_file`,
:func:`trueneg.audit.audit` and :func:`trueneg.audit.audit_at_scale` are thin wrappers over these.

Example:
    >>> from trueneg.data import from_hf_dataset
    >>> rows = [{"query": f"what is topic {i}", "positive": f"topic {i} is a subject of study"} for i in range(6)]
    >>> data = from_hf_dataset(rows, corpus=[f"a note on topic {i % 6} and more" for i in range(30)])
    >>> run = plan(data, config=MiningConfig(num_negatives=2, retriever="sparse", perc_pos=None),
    ...            inputs=Inputs(show_progress=False))
    >>> with open_source(run) as source:
    ...     summary = drive(run, source, fit(run, source), ResultSink())
    >>> type(source).__name__, summary["queries"], summary["negatives_emitted"]
    ('MemorySource', 6, 12)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from trueneg.candidates.encoders import (
    CacheDir,
    Encoder,
    ModelLike,
    check_model_folder,
    describe_encoder,
    encoder_for,
    pop_encoder_settings,
)
from trueneg.candidates.pool import CandidatePool, retrieve_candidates
from trueneg.data.dataset import RetrievalData
from trueneg.io import RowWriter, check_output_path, check_rows_suffix, check_writable, resolve
from trueneg.mining.config import MiningConfig, ScaleConfig
from trueneg.mining.result import FORMATS, MiningResult, remove_stale_sidecar, sidecar_path, split_rows
from trueneg.mining.stages import estimate_on_pool, explain_empty, mine_pool
from trueneg.mining.summary import MiningSummary
from trueneg.pu import FalseNegativeEstimate
from trueneg.pu.detector import DetectorLike
from trueneg.validation import check_one_of

PathLike = str | os.PathLike
Purpose = Literal["mine", "audit"]


@dataclass(frozen=True)
class Inputs:
    """What a run reads or writes besides the data and its settings: models, files, a pool already retrieved.

    Args:
        teacher: a second model (bi-encoder or cross-encoder): rescoring (mine) and detector evidence.
        fn_detector: ``"multi"``, ``"score"`` or a configured :class:`~trueneg.pu.FalseNegativeDetector`.
        judges / judgments_file: a judge cascade (:mod:`trueneg.mining.judges`) and its log (JSONL).
        judgments: a filled ``verify.jsonl``: judged pairs become labels and calibrate the detector.
        corpus_embeddings / query_embeddings: embedding files (the scale path).
        cache_dir: embedding cache of a model given by name and of the teacher (``False``: none).
        show_progress: progress bars.
        pool / fn_estimate: candidates already retrieved and a detector estimate already fit on them (in memory).
    """

    teacher: Any = None
    fn_detector: DetectorLike = "multi"
    judges: list[Any] | None = None
    judgments_file: PathLike | None = None
    judgments: PathLike | None = None
    corpus_embeddings: PathLike | None = None
    query_embeddings: PathLike | None = None
    cache_dir: CacheDir = None
    show_progress: bool = True
    pool: CandidatePool | None = field(default=None, repr=False)
    fn_estimate: FalseNegativeEstimate | None = field(default=None, repr=False)

    @classmethod
    def take(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Remove and return the entries of ``options`` named like a field."""
        names = {f.name for f in fields(cls)}
        return {name: options.pop(name) for name in list(options) if name in names}

    def files(self) -> list[PathLike]:
        """The files this run reads (an output must be none of them)."""
        return [p for p in (self.corpus_embeddings, self.query_embeddings, self.judgments) if p is not None]


@dataclass(frozen=True)
class Output:
    """A checked output: the rows file, its format, and what to do with extra fields and an empty result.

    Build it with :func:`check_output`, which checks it once; :func:`plan` takes it as it is.
    """

    path: Path
    format: str = "flagembedding"
    extra_columns: bool = False
    allow_empty: bool = False


def check_output(
    output: PathLike,
    format: str = "flagembedding",
    inputs: Iterable[PathLike | None] = (),
    *,
    judgments_file: PathLike | None = None,
    extra_columns: bool = False,
    allow_empty: bool = False,
) -> Output:
    """The :class:`Output` of a run, checked before any work: ``format`` is one of :data:`FORMATS`, ``output``
    ends in .jsonl or .parquet, and neither it, its sidecar nor the judge log is one of ``inputs``.

    Raises ``ValueError`` (an :class:`~trueneg.io.OutputError`) naming the path and the cause.
    """
    check_one_of("format", format, FORMATS)
    inputs = [p for p in inputs if p is not None]
    check_rows_suffix(output, inputs)
    check_output_path(sidecar_path(output), inputs)
    if judgments_file is not None:
        if resolve(judgments_file) == resolve(output):
            raise ValueError(f"{output}: the judge log and the output are the same file; name two files")
        check_output_path(judgments_file, inputs, "judge log")
    return Output(Path(output), format, extra_columns, allow_empty)


@dataclass(frozen=True)
class Plan:
    """A checked run: the data, its settings, the encoder, the inputs, where it writes, and the path it takes."""

    data: RetrievalData
    config: MiningConfig
    encoder: Encoder | None
    inputs: Inputs
    scale: ScaleConfig | None = None  # None: in memory
    output: Output | None = None
    purpose: Purpose = "mine"
    depth: int = 100
    query_prompt: str | None = None
    verification: dict[str, Any] | None = None
    teacher_scorer: Any = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def streamed(self) -> bool:
        """Whether the run reads its pools through an index, chunk by chunk (the scale path)."""
        return self.scale is not None


def plan(
    data: RetrievalData,
    model: ModelLike = None,
    config: MiningConfig | None = None,
    scale: ScaleConfig | None = None,
    *,
    inputs: Inputs | None = None,
    output: Output | PathLike | None = None,
    purpose: Purpose = "mine",
    depth: int | None = None,
    **options: Any,
) -> Plan:
    """Check a run once, before any work, and build what it needs (see the module docstring).

    ``scale`` or an embeddings file selects the scale path, which takes no judges and no judgments (and a
    teacher only with the local engine), and searches dense embeddings. ``options`` are fields of
    :class:`~trueneg.mining.MiningConfig`, of :class:`~trueneg.mining.ScaleConfig` (they select the scale path
    too) and of :class:`Inputs` by name, and the deprecated encoder settings (``backend``, prompts,
    ``batch_size``). ``depth``: candidates per query (default the mining window's end).
    """
    settings = pop_encoder_settings(options)
    inputs = dataclasses.replace(inputs or Inputs(), **Inputs.take(options))
    scale_options = ScaleConfig.take(options)
    unknown = sorted(set(options) - MiningConfig.field_names())
    if unknown:
        names = sorted({*MiningConfig.field_names(), *ScaleConfig.field_names(), *(f.name for f in fields(Inputs))})
        raise TypeError(f"unknown mining option(s) {', '.join(unknown)}; the options are {', '.join(names)}")
    cfg = MiningConfig.build(config, **options)
    files = (inputs.corpus_embeddings, inputs.query_embeddings)
    if scale is not None or scale_options or any(f is not None for f in files):
        scale = ScaleConfig.build(scale, **scale_options)
        _check_streamed(cfg, inputs, purpose, scale)
    if isinstance(output, (str, os.PathLike)):
        read = [*inputs.files(), *source_files(data)]
        output = check_output(output, inputs=read, judgments_file=inputs.judgments_file)
    check_model_folder(inputs.teacher, "teacher")
    if inputs.judgments_file is not None:
        check_writable(inputs.judgments_file, "judgments file")  # before any retrieval
    if scale is not None and not data.mined_query_ids():
        raise ValueError(f"{data.source}: no query has a positive judgment (grade > 0); nothing to mine")
    verification = None
    if inputs.judgments is not None and purpose == "mine":
        if cfg.retriever == "sparse":
            raise ValueError("judgments (--judgments) need the dense or hybrid retriever: the judged pairs are scored "
                             "by the embeddings")  # fmt: skip
        cfg, verification = _verification(cfg, inputs.judgments)
    show = inputs.show_progress
    encoder = encoder_for(model, settings, cache_dir=inputs.cache_dir, show_progress=show, caller=purpose)
    scorer = None
    if inputs.teacher is not None:  # loaded and tried before any retrieval (TeacherScorer); one per run
        from trueneg.mining.teacher import pool_scorer

        batch = getattr(encoder, "batch_size", 32)  # chunks of the scale path encode without their own bars
        scorer = pool_scorer(inputs.teacher, data, cfg.teacher_type, batch, cache_dir=inputs.cache_dir,
                             show_progress=show and scale is None)  # fmt: skip
    prompt = settings.get("query_prompt") or getattr(encoder, "query_prompt", None)
    if verification is not None:  # the pool reaches the audit's depth, so the sample's frame can be rebuilt
        depth = depth or max(cfg.window[1], verification["_judgments"].depth)
    return Plan(data, cfg, encoder, inputs, scale, output, purpose, depth or cfg.window[1], prompt, verification,
                scorer)  # fmt: skip


def _check_streamed(cfg: MiningConfig, inputs: Inputs, purpose: Purpose, scale: ScaleConfig) -> None:
    if inputs.judges or inputs.judgments is not None:
        raise ValueError(
            "the scale path (embeddings files, index, memory budget, engine) takes no judges and no judgments: "
            "mine in memory for those"
        )
    if inputs.teacher is not None and scale.engine == "ray" and purpose == "mine":
        raise ValueError("a teacher scores the pools in this process: mine with engine='local' (--engine local) "
                         "when a teacher is given")  # fmt: skip
    if inputs.pool is not None or inputs.fn_estimate is not None:
        raise ValueError("the scale path retrieves its own pools: pool and fn_estimate are for the in-memory path")
    if cfg.retriever != "dense":
        raise ValueError(f"the scale path searches dense embeddings: retriever must be dense, got {cfg.retriever!r}")


def _verification(cfg: MiningConfig, judgments: PathLike) -> tuple[MiningConfig, dict[str, Any]]:
    """Read and check a filled ``verify.jsonl``; the config with the verified relabel threshold; what to report
    (and, under the private keys, the judgments and the calibration)."""
    from trueneg.pu.verify import CALIBRATION_LEVEL, calibrate, read_judgments, relabel_threshold

    read = read_judgments(judgments)
    calibration = calibrate(read)  # refuses too few judgments, saying how many more
    info: dict[str, Any] = {
        "file": str(read.path), "judged": read.judged, "judged_relevant": int(read.y.sum()),
        **calibration.to_dict(),
    }  # fmt: skip
    if cfg.fn_action == "relabel":
        judged_p = calibration(read.probability, read.rank, upper=CALIBRATION_LEVEL)
        pick = relabel_threshold(read, cfg.relabel_precision, probability=judged_p)
        info["relabel"] = pick
        if pick["threshold"] is None:  # nothing meets the precision target: relabel nothing, and say so
            cfg = cfg.replace(fn_action="drop")
            pick["note"] = (
                f"no probability threshold reaches the estimated precision {cfg.relabel_precision} on the judged "
                f"sample (best {pick['best_precision']}); nothing is relabeled"
            )
        else:
            cfg = cfg.replace(relabel_probability=pick["threshold"])  # on the calibrated scale already
    info["_judgments"], info["_calibration"] = read, calibration
    return cfg, info


# --- sources ---------------------------------------------------------------------------------------


class Source(Protocol):
    """Candidate pools of a run, by query range; ``fit_policy`` says how :func:`fit` fits the detector on them."""

    fit_policy: Literal["out-of-fold", "sample"]
    data: RetrievalData
    bounds: list[tuple[int, int]]
    describe: dict[str, Any]


@dataclass
class MemorySource:
    """One pool of every query with a positive, retrieved at once (the in-memory path)."""

    data: RetrievalData
    pool: CandidatePool
    describe: dict[str, Any]
    fit_policy: Literal["out-of-fold", "sample"] = "out-of-fold"

    @property
    def bounds(self) -> list[tuple[int, int]]:
        return [(0, len(self.pool.query_ids))]


@contextlib.contextmanager
def open_source(run: Plan) -> Iterator[Source]:
    """The run's candidate pools: in memory, or an index (files encoded on the way last until the block ends)."""
    inputs = run.inputs
    if run.streamed:
        from trueneg.mining.stream import open_index

        shards = _runner(run, "rows") if run.purpose == "mine" else None  # the audit encodes in this process
        fmt = run.output.format if run.output is not None else "flagembedding"
        teacher = run.teacher_scorer if run.purpose == "mine" else None  # rescoring; the audit's is evidence only
        with open_index(run.data, run.encoder, run.config, run.scale, depth=run.depth, format=fmt, inputs=inputs,
                        map_shards=shards, teacher=teacher) as source:  # fmt: skip
            yield source
        return
    pool = inputs.pool or retrieve_candidates(
        run.data, run.encoder, depth=run.depth, retriever=run.config.retriever, cache_dir=inputs.cache_dir,
        show_progress=inputs.show_progress,
    )  # fmt: skip
    model, backend = describe_encoder(run.encoder) if run.config.retriever != "sparse" else (None, None)
    yield MemorySource(run.data, pool, {"model": model, "backend": backend})


# --- fit --------------------------------------------------------------------------------------------


@dataclass
class Fitted:
    """The detector of a run, fitted once: an estimate on the in-memory pool, or a model and cutoff for chunks."""

    estimate: FalseNegativeEstimate | None = None
    model: Any = None
    cutoff: float | None = None
    fit_on: int | None = None


def fit(run: Plan, source: Source) -> Fitted:
    """Fit the detector (and the ``max_fn_rate`` cutoff) once, by ``source.fit_policy``.

    In memory the detector is fit out of fold on the pool: here when the run needs it first (an audit,
    judgments to calibrate, an estimate given), else inside :func:`~trueneg.mining.stages.mine_pool`. Through an
    index it is fit on a sample of queries and applied unchanged to every chunk.
    """
    cfg, inputs = run.config, run.inputs
    if source.fit_policy == "sample":
        from trueneg.mining.stream import fit_on_sample

        if not cfg.detects:
            return Fitted()
        return fit_on_sample(source, cfg, run.scale.fn_sample, inputs.fn_detector, scorer=run.teacher_scorer)
    if inputs.fn_estimate is not None:
        return Fitted(inputs.fn_estimate)
    if run.verification is not None:
        # the detector reads the labels (and the teacher) as the audit that drew the sample did, so its
        # probabilities are on the scale the judgments calibrate; then the judged pairs become labels
        raw = estimate_on_pool(source.data, source.pool, cfg, inputs.fn_detector, scorer=run.teacher_scorer,
                               show_progress=inputs.show_progress)  # fmt: skip
        _check_sample(source, raw, run.verification, cfg.seed)  # a file from another dataset, model or seed stops
        source.data, source.pool, estimate = _judged(source.data, source.pool, raw, run.verification)
        return Fitted(estimate)
    if run.purpose == "audit":
        return Fitted(estimate_on_pool(source.data, source.pool, cfg, inputs.fn_detector, scorer=run.teacher_scorer,
                                       show_progress=inputs.show_progress))  # fmt: skip
    return Fitted()


def _check_sample(source: MemorySource, raw: FalseNegativeEstimate, info: dict[str, Any], seed: int) -> None:
    """Rebuild the audit's frame from the labels as it saw them: the judged rows must be a sample of it, so the
    calibration is fit on the probabilities this run filters by (else a ``DataError`` names the file)."""
    from trueneg.pu.verify import frame_of, match

    judged = info["_judgments"]
    match(judged, frame_of(source.data, source.pool, raw, judged.depth), seed)


def _judged(
    data: RetrievalData, pool: CandidatePool, est: FalseNegativeEstimate, info: dict[str, Any]
) -> tuple[RetrievalData, CandidatePool, FalseNegativeEstimate]:
    """The data, pool and calibrated estimate with the judged pairs as labels (positives, judged negatives)."""
    from trueneg.candidates.dense import pair_scores
    from trueneg.candidates.pool import judged_sets, member_of, positive_pairs
    from trueneg.pu.verify import CALIBRATION_LEVEL, judged_labels, unlabeled_rank

    judged, calibration = info.pop("_judgments"), info.pop("_calibration")
    data = judged_labels(data, judged)
    positives, negatives = judged_sets(data, pool.query_ids)
    pos_q, pos_d = positive_pairs(positives)
    pos_scores = pair_scores(pool.query_vectors, pool.doc_vectors, pos_q, pos_d)
    pool = dataclasses.replace(pool, positives=positives, judged_negatives=negatives, positive_query=pos_q,
                               positive_doc=pos_d, positive_scores=pos_scores)  # fmt: skip
    labeled = member_of(pool.candidates, positives) & (pool.candidates >= 0)
    rank = unlabeled_rank(pool.candidates, est.labeled) + 1  # as the audit's frame ranked them, 1-based as the rows
    calibrated = [np.where(labeled, np.nan, calibration(p, rank, upper=CALIBRATION_LEVEL)) for p in
                  (est.probability, est.probability_low, est.probability_high)]  # fmt: skip
    est = dataclasses.replace(est, probability=calibrated[0], probability_low=calibrated[1],
                              probability_high=calibrated[2], labeled=labeled)  # fmt: skip
    return data, pool, est


# --- drive ------------------------------------------------------------------------------------------


@dataclass
class Mined:
    """One pool's outcome: the pool, the detector's estimate on it (or None) and what was mined."""

    pool: CandidatePool
    estimate: FalseNegativeEstimate | None
    result: MiningResult


class Sink(Protocol):
    """Where :func:`drive` puts each pool's outcome. ``wants="rows"``: only rows and summaries (may run on Ray)."""

    wants: Literal["rows", "pools"]

    def add(self, part: Any) -> None: ...


def _runner(run: Plan, wants: Literal["rows", "pools"]) -> Callable[..., Iterator[Any]]:
    """``runner(work, bounds, desc)``: ``work(start, stop)`` over ``bounds``, on Ray when asked and possible."""
    from trueneg.mining.stream import run_local, run_ray

    scale, show = run.scale, run.inputs.show_progress
    ray = scale is not None and scale.engine == "ray" and wants == "rows" and run.purpose == "mine"
    return functools.partial(run_ray if ray else run_local, workers=scale and scale.ray_workers, show_progress=show)


def _memory_work(run: Plan, source: MemorySource, fitted: Fitted) -> Callable[[int, int], Mined]:
    inputs, mining = run.inputs, run.purpose == "mine"
    teacher = run.teacher_scorer if mining else None  # the audit takes the teacher as evidence only

    def work(start: int, stop: int) -> Mined:
        result = mine_pool(
            source.data, source.pool, run.config, teacher=teacher, fn_detector=inputs.fn_detector,
            fn_estimate=fitted.estimate, judges=inputs.judges, judgments_file=inputs.judgments_file,
            batch_size=getattr(run.encoder, "batch_size", 32), cache_dir=inputs.cache_dir,
            show_progress=inputs.show_progress and mining,
        )  # fmt: skip
        result.query_prompt = run.query_prompt
        return Mined(source.pool, fitted.estimate, result)

    return work


def drive(run: Plan, source: Source, fitted: Fitted, sink: Sink, desc: str = "Mining chunks") -> MiningSummary:
    """Mine every pool of ``source`` with ``fitted`` into ``sink``; the run's summary (all pools merged).

    Chunks run in order, on this process or (a rows sink of a ``engine="ray"`` mining run) as a Ray Data
    pipeline; the rows do not depend on which.
    """
    if source.fit_policy == "out-of-fold":
        part = _memory_work(run, source, fitted)(*source.bounds[0])
        sink.add(part)
        return _merge(run, source, fitted, [part.result.summary])
    source.fn_model, source.fn_cutoff = fitted.model, fitted.cutoff
    work = source if sink.wants == "rows" else source.mined
    parts = []
    for part in _runner(run, sink.wants)(work, source.bounds, desc=desc):
        sink.add(part)
        parts.append(part[1] if isinstance(part, tuple) else part.result.summary)
    summary = _merge(run, source, fitted, parts)
    summary.extra.update(engine=run.scale.engine)
    return summary


def _merge(run: Plan, source: Source, fitted: Fitted, parts: list[MiningSummary]) -> MiningSummary:
    """The run's summary: the one pool's, or the chunks' merged with the fixed detector's description."""
    describe = dict(source.describe)
    if not run.streamed:
        summary = parts[0]
        summary.model, summary.backend = describe["model"], describe["backend"]
        summary.seconds = round(time.perf_counter() - run.started, 2)
        if run.verification is not None:
            run.verification.pop("calibration", None)
            summary.extra["verification"] = run.verification
        return summary
    summary = MiningSummary.merge(
        parts, queries=len(source.query_ids), queries_without_positive=len(run.data.qrels) - len(source.query_ids),
        model=describe.pop("model"), backend=describe.pop("backend"), texts_encoded=describe.pop("texts_encoded"),
        extra=describe,
    )  # fmt: skip
    if fitted.model is not None:
        fn = summary.false_negatives
        summary.false_negatives = {
            **fitted.model.to_dict(), "max_fn_rate": fn["max_fn_rate"],
            "cutoff": None if fitted.cutoff is None else round(float(fitted.cutoff), 6),
            "fit_on_queries": fitted.fit_on,
            **{k: fn[k] for k in ("estimated_fn_rate", "ci_low", "ci_high")},
        }  # fmt: skip
    return summary


class ResultSink:
    """Keeps the :class:`~trueneg.mining.result.MiningResult` of the one in-memory pool."""

    wants: Literal["rows", "pools"] = "pools"

    def __init__(self) -> None:
        self.result: MiningResult | None = None

    def add(self, part: Mined) -> None:
        self.result = part.result


class FileSink:
    """Streams the rows of each pool to the output (atomically: the file appears when all are written) and
    the extra fields to the sidecar; raises before the rename when nothing was emitted and that is refused."""

    wants: Literal["rows", "pools"] = "rows"

    def __init__(self, output: Output) -> None:
        self.output = output
        self.rows_written = 0
        self._stack = contextlib.ExitStack()
        self._writer: RowWriter | None = None
        self._extras: RowWriter | None = None

    def __enter__(self) -> FileSink:
        self._writer = self._stack.enter_context(RowWriter(self.output.path))
        return self

    def add(self, part: Mined | tuple[list[dict[str, Any]], MiningSummary]) -> None:
        rows = part.result.to_rows(self.output.format, extra_columns=True) if isinstance(part, Mined) else part[0]
        out = self.output
        main, extra = (rows, []) if out.extra_columns else split_rows(rows, out.format, self._writer.rows_written)
        self._writer.write(main)
        if extra:
            self._extras = self._extras or self._stack.enter_context(RowWriter(sidecar_path(out.path)))
            self._extras.write(extra)
        self.rows_written = self._writer.rows_written

    def finish(self, summary: MiningSummary) -> MiningSummary:
        """Check the result may be written; the summary with ``output`` and ``format`` (and the rows written)."""
        if not self.output.allow_empty and summary.negatives_emitted == 0:
            raise ValueError(explain_empty(summary))  # before the rename: nothing is written
        return summary

    def __exit__(self, *exc_info: Any) -> None:
        self._stack.__exit__(*exc_info)
        if exc_info[0] is None and self._extras is None:  # an earlier run's sidecar would be merged into these rows
            remove_stale_sidecar(self.output.path)


def write_run(run: Plan) -> MiningSummary:
    """Mine the planned run into its output (see :func:`write_negatives`)."""
    from trueneg.mining.stream import ray_session

    ray = run.streamed and run.scale.engine == "ray"
    with ray_session() if ray else contextlib.nullcontext(), open_source(run) as source, FileSink(run.output) as sink:
        summary = sink.finish(drive(run, source, fit(run, source), sink))
    if run.streamed:
        summary.extra.update(rows_written=sink.rows_written)
        summary.seconds = round(time.perf_counter() - run.started, 2)
    summary.extra.update(output=str(run.output.path), format=run.output.format)
    return summary


def source_files(data: RetrievalData) -> list[Path]:
    """The files ``data`` was read from, when its ``source`` names them (an output must be none of them)."""
    from trueneg.data.loaders import input_files

    source = Path(str(data.source)) if data.source else None
    return input_files(source) if source is not None and source.exists() else []


def write_negatives(
    data: RetrievalData,
    output: Output | PathLike,
    model: ModelLike = None,
    config: MiningConfig | None = None,
    scale: ScaleConfig | None = None,
    *,
    inputs: Inputs | None = None,
    format: str = "flagembedding",
    allow_empty: bool = False,
    extra_columns: bool = False,
    **options: Any,
) -> MiningSummary:
    """What ``trueneg mine`` does: mine ``data`` and write the rows of ``format`` to ``output``, atomically.

    In memory (as :func:`~trueneg.mining.mine_negatives`) unless ``scale``, a :class:`~trueneg.mining.ScaleConfig`
    field or an embeddings file is given; then the scale path (as :func:`mine_to_file`), which searches dense
    embeddings and so needs ``retriever="dense"`` and no judges. With ``allow_empty=False`` a run
    that emits no negative at all raises a ``ValueError`` saying which filter dropped what (and writes
    nothing). The rows are trainer-ready; the extra fields go to the sidecar beside ``output``
    (:func:`~trueneg.mining.result.sidecar_path`) unless ``extra_columns``. ``output`` may be an
    :class:`Output` already checked by :func:`check_output` (then ``format``, ``allow_empty`` and
    ``extra_columns`` are its own). ``options``: fields of :class:`Inputs` (``teacher``, ``judges``,
    ``corpus_embeddings``, ...) and of the configs by name.

    Returns:
        The summary, with ``output`` and ``format`` added.

    Example:
        >>> summary = write_negatives(data, "negatives.jsonl", config=MiningConfig(num_negatives=4))  # doctest: +SKIP
    """
    inputs = dataclasses.replace(inputs or Inputs(), **Inputs.take(options))
    if not isinstance(output, Output):
        read = [*inputs.files(), *source_files(data)]
        output = check_output(output, format, read, judgments_file=inputs.judgments_file,
                              extra_columns=extra_columns, allow_empty=allow_empty)  # fmt: skip
    return write_run(plan(data, model, config, scale, inputs=inputs, output=output, **options))


def mine_to_file(
    data: RetrievalData,
    output: Output | PathLike,
    model: ModelLike = None,
    config: MiningConfig | None = None,
    scale: ScaleConfig | None = None,
    *,
    inputs: Inputs | None = None,
    format: str = "flagembedding",
    allow_empty: bool = True,
    extra_columns: bool = False,
    **options: Any,
) -> MiningSummary:
    """Mine negatives for every query of ``data`` into ``output`` in bounded memory (:mod:`trueneg.mining.stream`).

    :func:`write_negatives` on the scale path: ``scale`` (default ``ScaleConfig()``) sets the index, the
    memory budget, the recall target, the sample sizes, the chunking and the engine.
    ``corpus_embeddings`` / ``query_embeddings`` (:class:`Inputs` fields) are ``.npy`` (rows in corpus /
    queries order) or ``.parquet`` (id + vector columns) files, validated against the ids; ``model`` encodes
    the side whose embeddings are not given.

    Returns:
        The :class:`~trueneg.mining.summary.MiningSummary` (as ``mine_negatives``' summary, plus ``index``,
        ``chunks``, ``engine``, ``rows_written`` and ``output``).

    Example:
        >>> summary = mine_to_file(data, "negs.jsonl", corpus_embeddings="corpus.npy",
        ...                        query_embeddings="queries.npy", index="ivf")  # doctest: +SKIP
        >>> summary["index"]["recall@10"]  # doctest: +SKIP
        0.97
    """
    return write_negatives(data, output, model, config, scale or ScaleConfig(), inputs=inputs, format=format,
                           allow_empty=allow_empty, extra_columns=extra_columns, **options)  # fmt: skip


def mine_in_memory(run: Plan) -> MiningResult:
    """The :class:`~trueneg.mining.result.MiningResult` of a planned in-memory run."""
    if run.streamed:
        raise ValueError("mine_negatives mines in memory; with the scale options use mine_to_file or write_negatives")
    sink = ResultSink()
    with open_source(run) as source:
        drive(run, source, fit(run, source), sink)
    return sink.result
