"""``mine``: false-negative-aware hard-negative mining for retrieval training data.

The pipeline per query: retrieve candidates (dense, BM25 or hybrid) -> drop labeled positives and
texts identical to a positive -> keep the rank window -> drop lexical near-duplicates of a
positive -> drop candidates the positive-aware filters flag as likely false negatives -> sample
``num_negatives`` of what remains. Every step is vectorized over all queries.

Judged negatives (qrels grade 0) are known negatives: they are exempt from the near-duplicate and
score filters (never treated as suspected false negatives) but still obey the rank window and
sampling.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from trueneg.candidates.encoders import (
    CacheDir,
    ModelLike,
    check_model_folder,
    describe_encoder,
    encoder_for,
    pop_encoder_settings,
)
from trueneg.candidates.pool import CandidatePool, retrieve_candidates
from trueneg.data.dataset import RetrievalData
from trueneg.io import check_writable
from trueneg.mining import filters
from trueneg.mining.config import MiningConfig
from trueneg.mining.result import MiningResult
from trueneg.mining.sampling import sample_negatives
from trueneg.mining.summary import DROP_REASONS, MiningSummary
from trueneg.mining.teacher import pool_scorer, teacher_scores
from trueneg.pu import Evidence, FalseNegativeEstimate, estimate_false_negatives
from trueneg.pu.detector import DetectorLike
from trueneg.validation import check_one_of


def mine_negatives(
    data: RetrievalData,
    model: ModelLike = None,
    config: MiningConfig | None = None,
    *,
    teacher: Any = None,
    fn_detector: DetectorLike = "multi",
    judges: list[Any] | None = None,
    judgments_file: str | os.PathLike | None = None,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
    pool: CandidatePool | None = None,
    fn_estimate: FalseNegativeEstimate | None = None,
    fn_cutoff: float | None = None,
    judgments: str | os.PathLike | None = None,
    **options: Any,
) -> MiningResult:
    """Mine hard negatives that are unlikely to be unlabeled positives: retrieve, then :func:`mine_pool`.

    Args:
        data: corpus, queries and qrels (see :mod:`trueneg.data`). Queries without a positive are skipped.
        model: the :class:`~trueneg.candidates.Encoder` of the dense retriever (e.g.
            ``SentenceTransformerEncoder("path", backend="onnx-int8", query_prompt="query: ")``), or a
            sentence-transformers model name/path/instance encoded with the default settings; default
            the offline all-MiniLM-L6-v2. Unused with ``retriever="sparse"``. Its ``query_prompt`` is
            written to the rows.
        config: the settings below as one validated :class:`~trueneg.mining.config.MiningConfig`
            (default ``MiningConfig()``); settings given as keywords override it.
        num_negatives: negatives per query.
        retriever: ``"dense"`` (exact FAISS inner product), ``"sparse"`` (BM25) or ``"hybrid"``
            (reciprocal-rank fusion of both; filters then use the dense cosine scores).
        sampling: ``"top"``, ``"random"`` or ``"simans"`` (see :mod:`trueneg.mining.sampling`).
        range_min / range_max: rank window of candidates, counted after removing labeled positives
            (``range_min=r`` skips the ``r`` hardest); default ``range_max = range_min + 10 * num_negatives``.
        max_score: TopK-Abs threshold. margin: TopK-MarginPos margin. perc_pos: TopK-PercPos
            percentage (default 0.95; ``None`` disables). min_score: drop candidates scoring lower.
        near_duplicate: TF-IDF cosine above which a candidate counts as a near-duplicate of a
            positive (default 0.9; ``None`` disables).
        simans_a / simans_b: SimANS parameters, for cosine-scale scores.
        teacher: optional bi-encoder or cross-encoder that rescores candidates; its scores then drive
            the filters and hardness order, are written out as soft labels, and give the
            false-negative detector a second opinion (the ``teacher_*`` signals of :mod:`trueneg.pu.evidence`).
        teacher_type: ``"auto"``, ``"bi-encoder"`` or ``"cross-encoder"``.
        max_fn_rate: target false-negative rate among the emitted negatives. Candidates get a
            probability of being a missing positive (:func:`trueneg.pu.estimate_false_negatives`);
            the largest probability cutoff whose emitted negatives have an expected false-negative
            rate <= the target is chosen (hardest negatives that meet it) and reported in
            ``summary["false_negatives"]["cutoff"]``. It replaces TopK-PercPos (``perc_pos`` is ignored).
        estimate_fn: report the estimated false-negative rate of the emitted negatives even
            without ``max_fn_rate``. fn_estimator: ``"roc"`` (default), ``"tice"``, ``"elkan-noto"`` or ``"km2"``.
        fn_action: what happens to *suspected* false negatives, the window's candidates whose detector
            probability is at least ``relabel_probability``: ``"drop"`` (default; only the filters
            act, as before), ``"relabel"`` (up to ``max_inferred`` per query, most probable first,
            become inferred positives: written after the labeled ones, flagged ``pos_inferred`` /
            ``positive_inferred``, never emitted as negatives) or ``"drop-query"`` (a query with at
            least ``drop_query_count`` suspects is left out whole, RLHN's choice for queries whose
            labels are too incomplete to trust). Both compute the detector (as ``estimate_fn``).
        judges / judge_budget / judgments_file: a judge cascade (:mod:`trueneg.mining.judges`) after
            trueneg's probability: suspects are then the candidates every judge flags (each judge
            sees only what the previous one flagged, at most ``judge_budget`` pairs after the first);
            with ``fn_action="drop"`` they are dropped (``dropped["judged_relevant"]``). Every
            judgment goes to ``judgments_file`` (JSONL) when given.
        fn_detector: ``"multi"`` (default: score, leave-one-out similarity to the query's other
            positives, BM25 agreement, other queries' labels), ``"score"`` (the score-only model) or a
            configured :class:`~trueneg.pu.FalseNegativeDetector`.
        seed: seed of the random and SimANS sampling.
        cache_dir: embedding cache of a model given by name and of the teacher (``False`` disables).
        show_progress: progress bars.
        pool / fn_estimate / fn_cutoff: candidates already retrieved, an estimate already fitted on
            them, a probability cutoff already chosen: see :func:`mine_pool`, which this then calls directly.
        judgments: a filled ``verify.jsonl`` (``trueneg audit --verify``): judged pairs enter the data as
            labels (relevant -> positive, not -> a judged negative, never filtered); the detector's
            probabilities are recalibrated on the judged sample (isotonic, design-weighted), so
            ``max_fn_rate`` means what it says on this data; with ``fn_action="relabel"`` only pairs
            above the threshold whose estimated precision meets ``relabel_precision`` are relabeled
            (none when no threshold does: ``summary.extra["verification"]`` says so).
        backend / query_prompt / document_prompt / batch_size: deprecated; settings of the encoder
            (give ``model=SentenceTransformerEncoder(...)``), still honoured with a ``DeprecationWarning``.

    Returns:
        A :class:`~trueneg.mining.result.MiningResult`; ``result.to_rows("flagembedding")`` gives rows.

    Example:
        >>> from trueneg.data import load_beir
        >>> data = load_beir("../shared/data/scifact", split="train")  # doctest: +SKIP
        >>> result = mine_negatives(data, num_negatives=10, perc_pos=0.95)  # doctest: +SKIP
        >>> result.summary["queries"]  # doctest: +SKIP
        809
    """
    started = time.perf_counter()
    settings = pop_encoder_settings(options)
    cfg = MiningConfig.build(config, **options)
    check_model_folder(teacher, "teacher")
    if judgments_file is not None:
        check_writable(judgments_file, "judgments file")  # before any retrieval
    encoder = encoder_for(model, settings, cache_dir=cache_dir, show_progress=show_progress, caller="mine_negatives")
    verification = None
    if judgments is not None:
        if cfg.retriever == "sparse":
            raise ValueError("judgments (--judgments) need the dense or hybrid retriever: the judged pairs are scored "
                             "by the embeddings")  # fmt: skip
        cfg, verification = _verification(cfg, judgments)
    if pool is None:
        pool = retrieve_candidates(
            data, encoder, depth=cfg.window[1], retriever=cfg.retriever, cache_dir=cache_dir,
            show_progress=show_progress,
        )  # fmt: skip
    if verification is not None:
        # the detector reads the labels as the audit that drew the sample did, so its probabilities are on the
        # scale the judgments calibrate; then the judged pairs become labels
        raw = fn_estimate or estimate_false_negatives(
            pool, data, detector=fn_detector, estimator=cfg.fn_estimator, seed=cfg.seed, show_progress=show_progress
        )
        data, pool, fn_estimate = _judged(data, pool, raw, verification)
    result = mine_pool(
        data, pool, cfg, teacher=teacher, fn_detector=fn_detector, fn_estimate=fn_estimate, fn_cutoff=fn_cutoff,
        judges=judges, judgments_file=judgments_file, batch_size=getattr(encoder, "batch_size", 32),
        cache_dir=cache_dir, show_progress=show_progress,
    )  # fmt: skip
    model_name, backend = describe_encoder(encoder) if cfg.retriever != "sparse" else (None, None)
    result.summary.model, result.summary.backend = model_name, backend
    result.summary.seconds = round(time.perf_counter() - started, 2)
    result.query_prompt = settings.get("query_prompt") or getattr(encoder, "query_prompt", None)
    if verification is not None:
        verification.pop("calibration", None)
        result.summary.extra["verification"] = verification
    return result


def _verification(cfg: MiningConfig, judgments: str | os.PathLike) -> tuple[MiningConfig, dict[str, Any]]:
    """Read and check a filled ``verify.jsonl``; the config with the verified relabel threshold; what to report
    (and, under the private keys, the judgments and the calibration)."""
    from trueneg.pu.verify import calibrate, read_judgments, relabel_threshold

    read = read_judgments(judgments)
    calibration = calibrate(read)  # refuses too few judgments, saying how many more
    info: dict[str, Any] = {
        "file": str(read.path), "judged": read.judged, "judged_relevant": int(read.y.sum()),
        **calibration.to_dict(),
    }  # fmt: skip
    if cfg.fn_action == "relabel":
        pick = relabel_threshold(read, cfg.relabel_precision)
        info["relabel"] = pick
        if pick["threshold"] is None:  # nothing meets the precision target: relabel nothing, and say so
            cfg = cfg.replace(fn_action="drop")
            pick["note"] = (
                f"no probability threshold reaches the estimated precision {cfg.relabel_precision} on the judged "
                f"sample (best {pick['best_precision']}); nothing is relabeled"
            )
        else:
            cfg = cfg.replace(relabel_probability=float(calibration(np.array([pick["threshold"]]))[0]))
    info["_judgments"], info["_calibration"] = read, calibration
    return cfg, info


def _judged(
    data: RetrievalData, pool: CandidatePool, est: FalseNegativeEstimate, info: dict[str, Any]
) -> tuple[RetrievalData, CandidatePool, FalseNegativeEstimate]:
    """The data, pool and calibrated estimate with the judged pairs as labels (positives, judged negatives)."""
    from trueneg.candidates.dense import pair_scores
    from trueneg.candidates.pool import judged_sets, member_of, positive_pairs
    from trueneg.pu.verify import judged_labels

    judged, calibration = info.pop("_judgments"), info.pop("_calibration")
    data = judged_labels(data, judged)
    positives, negatives = judged_sets(data, pool.query_ids)
    pos_q, pos_d = positive_pairs(positives)
    pos_scores = pair_scores(pool.query_vectors, pool.doc_vectors, pos_q, pos_d)
    pool = dataclasses.replace(pool, positives=positives, judged_negatives=negatives, positive_query=pos_q,
                               positive_doc=pos_d, positive_scores=pos_scores)  # fmt: skip
    labeled = member_of(pool.candidates, positives) & (pool.candidates >= 0)
    calibrated = [np.where(labeled, np.nan, calibration(p)) for p in
                  (est.probability, est.probability_low, est.probability_high)]  # fmt: skip
    est = dataclasses.replace(est, probability=calibrated[0], probability_low=calibrated[1],
                              probability_high=calibrated[2], labeled=labeled)  # fmt: skip
    return data, pool, est


@dataclass
class _Window:
    """The candidate matrix of a pool after the structural exclusions (stage 1)."""

    valid: np.ndarray  # a candidate in this slot
    alive: np.ndarray  # inside the rank window and not a positive or a copy of one
    drop: dict[str, np.ndarray]  # the mask of each DROP_REASONS entry


def _window(data: RetrievalData, pool: CandidatePool, cfg: MiningConfig) -> _Window:
    """Stage 1: labeled positives, exact duplicates of a positive and candidates outside the rank window."""
    cand, positives = pool.candidates, pool.positives
    valid = cand >= 0
    drop = {reason: np.zeros(cand.shape, dtype=bool) for reason in DROP_REASONS}
    drop["labeled_positive"] = filters.member_of(cand, positives) & valid
    groups = data.duplicate_groups()
    cand_groups = np.where(valid, groups[np.maximum(cand, 0)], -1)
    pos_groups = np.where(positives >= 0, groups[np.maximum(positives, 0)], -1)
    drop["duplicate_of_positive"] = filters.member_of(cand_groups, pos_groups) & valid & ~drop["labeled_positive"]
    rank = np.cumsum(valid & ~drop["labeled_positive"], axis=1) - 1
    structural = ~valid | drop["labeled_positive"] | drop["duplicate_of_positive"]
    range_min, range_max = cfg.window
    drop["out_of_range"] = ~structural & ((rank < range_min) | (rank >= range_max))
    return _Window(valid, ~structural & ~drop["out_of_range"], drop)


def _rescore(
    data: RetrievalData, pool: CandidatePool, alive: np.ndarray, teacher: Any, cfg: MiningConfig, **encoding: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2: the teacher's scores of the window's candidates and of the positives (or the pool's own)."""
    if teacher is None:
        return pool.scores, pool.positive_scores
    rows, cols = np.nonzero(alive)
    both_q = np.concatenate([rows, pool.positive_query])
    both_d = np.concatenate([pool.candidates[rows, cols], pool.positive_doc])
    rescored = teacher_scores(
        teacher, pool.query_texts, data.doc_texts, both_q, both_d, teacher_type=cfg.teacher_type, **encoding
    )
    scores = np.full(pool.candidates.shape, -np.inf, dtype=np.float32)
    scores[rows, cols] = rescored[: len(rows)]
    return scores, rescored[len(rows) :]


def _filter(
    data: RetrievalData,
    pool: CandidatePool,
    window: _Window,
    scores: np.ndarray,
    anchor: np.ndarray,
    cfg: MiningConfig,
    exempt: np.ndarray,
) -> np.ndarray:
    """Stage 3: the positive-aware filters (each candidate counted under the first rule that drops it).

    Fills ``window.drop`` and returns the eligible mask. Judged negatives (``exempt``) are never dropped here.
    """
    cand, alive, drop = pool.candidates, window.alive, window.drop
    perc_pos = None if cfg.max_fn_rate is not None else cfg.perc_pos  # the detector replaces TopK-PercPos
    if cfg.near_duplicate is not None:
        used = np.unique(np.concatenate([cand[alive], pool.positive_doc]))
        lookup = np.full(len(data.doc_texts), -1, dtype=np.int64)
        lookup[used] = np.arange(len(used))
        vectors = filters.tfidf_matrix([data.doc_texts[i] for i in used])
        local_cand = np.where(alive, lookup[np.maximum(cand, 0)], -1)
        local_pos = np.where(pool.positives >= 0, lookup[np.maximum(pool.positives, 0)], -1)
        drop["near_duplicate"] = filters.near_duplicates(local_cand, local_pos, vectors, cfg.near_duplicate)
    if cfg.max_score is not None:
        drop["max_score"] = filters.topk_abs(scores, cfg.max_score)
    if cfg.margin is not None:
        drop["margin"] = filters.topk_margin_pos(scores, anchor, cfg.margin)
    if perc_pos is not None:
        drop["perc_pos"] = filters.topk_perc_pos(scores, anchor, perc_pos)
    if cfg.min_score is not None:
        drop["min_score"] = scores < cfg.min_score
    counted = ~alive
    for reason in ("near_duplicate", "max_score", "margin", "perc_pos", "min_score"):
        drop[reason] &= alive & ~exempt & ~counted
        counted |= drop[reason]
    return alive & ~counted


def mine_pool(
    data: RetrievalData,
    pool: CandidatePool,
    config: MiningConfig | None = None,
    *,
    teacher: Any = None,
    fn_detector: DetectorLike = "multi",
    fn_estimate: FalseNegativeEstimate | None = None,
    fn_cutoff: float | None = None,
    judges: list[Any] | None = None,
    judgments_file: str | os.PathLike | None = None,
    batch_size: int = 32,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
) -> MiningResult:
    """Mine the negatives of a given candidate pool with a given false-negative model.

    The stages, each vectorized over all queries: (1) structural exclusions and the rank window,
    (2) teacher rescoring, (3) the positive-aware filters, (4) the false-negative detector and its
    action (relabel, drop-query, a judge cascade, the ``max_fn_rate`` cutoff), (5) sampling in
    hardness order. :func:`mine_negatives` is retrieval followed by this; the scale path calls it
    on each chunk's pool with the estimate and cutoff it fit once on a sample.

    Args:
        pool: candidates from :func:`~trueneg.candidates.pool.retrieve_candidates` (covering the window).
        config: the :class:`~trueneg.mining.config.MiningConfig` (its ``retriever`` is the pool's).
        fn_estimate: a :class:`~trueneg.pu.FalseNegativeEstimate` on ``pool``; default: fit
            ``fn_detector`` on it when the configuration needs a detector.
        fn_cutoff: with ``max_fn_rate``, this probability cutoff instead of one searched on ``pool``.
        teacher / judges / judgments_file: as in :func:`mine_negatives`; ``batch_size`` and
            ``cache_dir`` are the teacher's.

    Example:
        >>> from trueneg.candidates.pool import retrieve_candidates
        >>> pool = retrieve_candidates(data, depth=40)  # doctest: +SKIP
        >>> result = mine_pool(data, pool, MiningConfig(num_negatives=4, max_fn_rate=0.05))  # doctest: +SKIP
    """
    started = time.perf_counter()
    cfg = config or MiningConfig()
    if judgments_file is not None:
        check_writable(judgments_file, "judgments file")
    cand, n_q = pool.candidates, len(pool.query_ids)
    window = _window(data, pool, cfg)
    alive, drop = window.alive, window.drop
    scores, pos_scores = _rescore(
        data, pool, alive, teacher, cfg, batch_size=batch_size, cache_dir=cache_dir, show_progress=show_progress
    )
    per_query_pos = np.split(pos_scores, np.cumsum(np.bincount(pool.positive_query, minlength=n_q))[:-1])
    anchor = filters.anchor_scores(per_query_pos)
    exempt = filters.member_of(cand, pool.judged_negatives)
    eligible = _filter(data, pool, window, scores, anchor, cfg, exempt)
    filtered = eligible.copy()  # what the filters leave, before the detector's action and cutoff

    order = np.argsort(-np.where(alive, scores, -np.inf), axis=1, kind="stable") if teacher is not None else None
    query_rows = np.array([data.query_index(q) for q in pool.query_ids], dtype=np.int64)
    select = _sampler(cand, scores, anchor, order, query_rows, cfg)

    estimate = None  # stage 4: the false-negative detector and its action
    if cfg.detects or judges:
        evidence = (
            Evidence.from_pool(data, pool, teacher=pool_scorer(teacher, data, cfg.teacher_type, batch_size, cache_dir,
                                                               show_progress))
            if teacher is not None and fn_estimate is None
            else None
        )  # fmt: skip
        estimate = fn_estimate or estimate_false_negatives(
            pool, data, detector=fn_detector, estimator=cfg.fn_estimator, seed=cfg.seed, show_progress=show_progress,
            evidence=evidence,
        )  # fmt: skip
    fn_summary = probability = None
    inferred = np.zeros(cand.shape, dtype=bool)
    dropped_queries = np.zeros(n_q, dtype=bool)
    if estimate is not None:
        probability = np.where(exempt, 0.0, np.nan_to_num(estimate.probability, nan=1.0))
        suspect = alive & ~exempt & (probability >= cfg.relabel_probability)
        if judges:
            suspect = _judge(data, pool, suspect, probability, judges, cfg.judge_budget, judgments_file, show_progress)
            if cfg.fn_action == "drop":
                drop["judged_relevant"] = suspect & eligible
                eligible &= ~suspect
        inferred, dropped_queries = _fn_actions(
            suspect, probability, cfg.fn_action, cfg.max_inferred, cfg.drop_query_count
        )
        eligible &= ~inferred & ~dropped_queries[:, None]
        cutoff = None
        if cfg.max_fn_rate is not None:
            if fn_cutoff is None:
                cutoff, eligible = _fn_cutoff(eligible, probability, exempt, select, cfg.max_fn_rate)
            else:
                cutoff, eligible = fn_cutoff, eligible & ((probability <= fn_cutoff) | exempt)
            drop["fn_probability"] = filtered & ~eligible
    chosen = select(eligible)  # stage 5: sampling
    if estimate is not None:
        fn_summary = _fn_summary(estimate, chosen, cfg, cutoff)

    have = chosen >= 0
    negatives = np.where(have, np.take_along_axis(cand, np.maximum(chosen, 0), axis=1), -1)
    neg_scores = np.where(have, np.take_along_axis(scores, np.maximum(chosen, 0), axis=1), np.nan).astype(np.float32)
    neg_probs = None
    if probability is not None:
        neg_probs = np.where(have, np.take_along_axis(probability, np.maximum(chosen, 0), axis=1), np.nan)
    n_neg = have.sum(axis=1)
    short = np.flatnonzero(n_neg < cfg.num_negatives)
    summary = MiningSummary(
        source=data.source,
        skipped=data.skipped or None,
        queries=n_q,
        queries_without_positive=len(data.qrels) - n_q,
        retriever=cfg.retriever,
        teacher=None if teacher is None else str(teacher),
        sampling=cfg.sampling,
        num_negatives=cfg.num_negatives,
        range=list(cfg.window),
        filters={
            "max_score": cfg.max_score,
            "margin": cfg.margin,
            "perc_pos": None if cfg.max_fn_rate is not None else cfg.perc_pos,
            "min_score": cfg.min_score,
            "near_duplicate": cfg.near_duplicate,
        },
        candidates=int(window.valid.sum()),
        dropped={reason: int(drop[reason].sum()) for reason in DROP_REASONS},
        not_sampled=int((eligible.sum(axis=1) - n_neg).sum()),
        negatives_emitted=int(have.sum()),
        judged_negatives_emitted=int((filters.member_of(negatives, pool.judged_negatives) & have).sum()),
        queries_short_of_negatives=int(len(short)),
        queries_without_negatives=int((n_neg == 0).sum()),
        short_query_ids=[pool.query_ids[i] for i in short[:20]],
        false_negatives=fn_summary,
        fn_action={
            "action": cfg.fn_action,
            "relabel_probability": cfg.relabel_probability,
            "relabeled": int(inferred.sum()),
            "queries_relabeled": int(inferred.any(axis=1).sum()),
            "queries_dropped": int(dropped_queries.sum()),
        },
        texts_encoded=pool.texts_encoded,
        seconds=round(time.perf_counter() - started, 2),
        values={"positive": pos_scores, "anchor_positive": anchor, "negative": neg_scores[have]},
    )
    relabel = cfg.fn_action == "relabel"
    return MiningResult(
        query_ids=pool.query_ids,
        query_texts=pool.query_texts,
        doc_ids=data.doc_ids,
        doc_texts=data.doc_texts,
        positives=np.split(pool.positive_doc, np.cumsum(np.bincount(pool.positive_query, minlength=n_q))[:-1]),
        positive_scores=per_query_pos,
        negatives=negatives,
        negative_scores=neg_scores,
        soft_labels=teacher is not None,
        summary=summary,
        inferred=[cand[i][inferred[i]] for i in range(n_q)] if relabel else None,
        inferred_scores=[scores[i][inferred[i]] for i in range(n_q)] if relabel else None,
        inferred_probabilities=[probability[i][inferred[i]] for i in range(n_q)] if relabel else None,
        negative_probabilities=None if neg_probs is None else neg_probs.astype(np.float32),
        dropped_queries=dropped_queries,
    )


def _sampler(
    cand: np.ndarray,
    scores: np.ndarray,
    anchor: np.ndarray,
    order: np.ndarray | None,
    query_rows: np.ndarray,
    cfg: MiningConfig,
) -> Callable[[np.ndarray], np.ndarray]:
    """Stage 5: ``select(mask)``, the chosen columns (original order) per query, -1 padded.

    Hardness order is retrieval order, or ``order`` (teacher scores) when given; random keys follow
    (query, document), so a query's draw does not depend on the other queries.
    """
    options = (cfg.num_negatives, cfg.sampling, cfg.simans_a, cfg.simans_b, cfg.seed, query_rows)

    def select(mask: np.ndarray) -> np.ndarray:
        if order is None:
            return sample_negatives(mask, scores, anchor, *options, items=np.maximum(cand, 0))
        mask_o, scores_o = np.take_along_axis(mask, order, axis=1), np.take_along_axis(scores, order, axis=1)
        cand_o = np.maximum(np.take_along_axis(cand, order, axis=1), 0)
        chosen_o = sample_negatives(mask_o, scores_o, anchor, *options, items=cand_o)
        return np.where(chosen_o >= 0, np.take_along_axis(order, np.maximum(chosen_o, 0), axis=1), -1)

    return select


def _fn_summary(
    estimate: FalseNegativeEstimate, chosen: np.ndarray, cfg: MiningConfig, cutoff: float | None
) -> dict[str, Any]:
    """The summary's ``false_negatives``: the detector, its label frequency and the emitted negatives' rate."""
    picked = np.zeros(estimate.probability.shape, dtype=bool)
    picked[np.nonzero(chosen >= 0)[0], chosen[chosen >= 0]] = True
    rate = estimate.rate(picked)
    return {
        "detector": estimate.details,
        "estimator": estimate.estimator,
        "label_frequency": round(estimate.label_frequency, 4),
        "label_frequency_ci": [round(v, 4) for v in estimate.label_frequency_ci],
        "max_fn_rate": cfg.max_fn_rate,
        "cutoff": None if cutoff is None else round(float(cutoff), 6),
        "estimated_fn_rate": round(rate[0], 5),
        "ci_low": round(rate[1], 5),
        "ci_high": round(rate[2], 5),
    }


REMEDIES = {
    "fn_probability": "raise max_fn_rate (--max-fn-rate) or widen the window (range_max, --range-max)",
    "perc_pos": "lower perc_pos (--perc-pos), disable it (--no-perc-pos) or widen the window (--range-max)",
    "margin": "lower margin (--margin)",
    "max_score": "raise max_score (--max-score)",
    "min_score": "lower min_score (--min-score)",
    "near_duplicate": "raise near_duplicate (--near-duplicate)",
    "out_of_range": "widen the window (range_max, --range-max)",
}


def explain_empty(summary: dict[str, Any]) -> str:
    """Why a mining run emitted no negative at all, and what to change, from its summary."""
    dropped = {k: v for k, v in summary["dropped"].items() if v and k in REMEDIES}
    biggest = sorted(dropped, key=lambda k: -dropped[k])
    counts = ", ".join(f"{k}: {dropped[k]}" for k in biggest) or "none"
    fn = summary.get("false_negatives") or {}
    target = (
        f" (max_fn_rate {fn['max_fn_rate']}: no candidate in the window meets it)"
        if fn.get("max_fn_rate") is not None
        else ""
    )
    remedy = "; or ".join(REMEDIES[k] for k in biggest[:2]) or "widen the window (range_max, --range-max)"
    return (
        f"no negative was emitted for any of {summary['queries']} queries: the filters dropped every candidate in "
        f"the window {summary['range']}{target}; dropped per rule: {counts}. Try: {remedy}. "
        "To write the empty output anyway, pass allow_empty / --allow-empty."
    )


def _judge(
    data: RetrievalData,
    pool: CandidatePool,
    suspect: np.ndarray,
    probability: np.ndarray,
    judges: list[Any],
    budget: int | None,
    record: str | os.PathLike | None,
    show_progress: bool = False,
) -> np.ndarray:
    """The suspects that every judge of the cascade flags (the first stage is trueneg's probability)."""
    from trueneg.mining.judges import JudgeItem, run_cascade

    rows, cols = np.nonzero(suspect)
    first_positive = {q: d for q, d in zip(pool.positive_query[::-1], pool.positive_doc[::-1])}
    items = [
        JudgeItem(pool.query_ids[r], data.doc_ids[pool.candidates[r, c]], pool.query_texts[r],
                  data.doc_texts[first_positive[r]], data.doc_texts[pool.candidates[r, c]], float(probability[r, c]))
        for r, c in zip(rows, cols)
    ]  # fmt: skip
    flagged, _ = (run_cascade(items, list(judges), budget, record, show_progress) if items
                  else (np.zeros(0, dtype=bool), []))  # fmt: skip
    out = np.zeros(suspect.shape, dtype=bool)
    out[rows[flagged], cols[flagged]] = True
    return out


def _fn_actions(
    suspect: np.ndarray, probability: np.ndarray, action: str, max_inferred: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(inferred positives mask, dropped queries mask)`` of ``fn_action`` over the suspects."""
    if action == "relabel":
        order = np.argsort(-np.where(suspect, probability, -np.inf), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :], axis=1)
        return suspect & (rank < max_inferred), np.zeros(len(suspect), dtype=bool)
    if action == "drop-query":
        return np.zeros(suspect.shape, dtype=bool), suspect.sum(axis=1) >= count
    return np.zeros(suspect.shape, dtype=bool), np.zeros(len(suspect), dtype=bool)


def _fn_cutoff(
    eligible: np.ndarray,
    probability: np.ndarray,
    exempt: np.ndarray,
    select: Callable[[np.ndarray], np.ndarray],
    target: float,
) -> tuple[float, np.ndarray]:
    """Largest probability cutoff whose selected negatives have mean probability <= ``target``."""
    values = probability[eligible & ~exempt]
    grid = np.unique(np.r_[np.quantile(values, np.linspace(0, 1, 201)) if values.size else [], 0.0, 1.0])
    for cutoff in grid[::-1]:
        mask = eligible & ((probability <= cutoff) | exempt)
        chosen = select(mask)
        rows = np.nonzero(chosen >= 0)[0]
        picked = probability[rows, chosen[chosen >= 0]]
        if picked.size == 0 or picked.mean() <= target:
            return float(cutoff), mask
    return 0.0, eligible & ((probability <= 0.0) | exempt)


def mine(
    data: Any,
    model: ModelLike = None,
    *,
    format: str = "flagembedding",
    split: str = "train",
    corpus: Any = None,
    columns: Any = None,
    return_type: Literal["auto", "rows", "dataset", "pandas"] = "auto",
    extra_columns: bool = False,
    return_dataset: bool = False,
    **options: Any,
) -> Any:
    """Mine negatives and return the output rows of ``format``, as ``trueneg mine`` writes them.

    ``data`` is a :class:`~trueneg.data.RetrievalData`, a BEIR folder or pair file path, a Hugging Face
    ``datasets.Dataset`` of (query, positive) columns, a ``DatasetDict`` (its ``split``), or a pandas
    ``DataFrame`` of the same columns. ``corpus``: extra documents (a list of texts, or a corpus file
    path for a pair file) that serve as negative candidates. ``columns``: a
    :class:`~trueneg.data.Columns` naming the pair columns. ``options`` are those of
    :func:`mine_negatives`.

    The rows come back in the shape they came in (``return_type="auto"``): a ``datasets.Dataset`` for a
    Dataset (as sentence-transformers' ``mine_hard_negatives`` returns), a ``DataFrame`` for a DataFrame,
    a list of dicts otherwise; ``"rows"``, ``"dataset"`` or ``"pandas"`` ask for one
    (``return_dataset=True`` is the older spelling of ``"dataset"``). They train as they are:
    ``extra_columns=True`` adds the probabilities and inferred flags (see :mod:`trueneg.mining.result`).

    Example:
        >>> import trueneg
        >>> rows = trueneg.mine("../shared/data/scifact", split="train")  # doctest: +SKIP
        >>> sorted(rows[0])  # doctest: +SKIP
        ['neg', 'neg_scores', 'pos', 'pos_scores', 'query']
    """
    from trueneg.data.loaders import from_hf_dataset, load_data

    check_one_of("return_type", return_type, ("auto", "rows", "dataset", "pandas"))
    shape = "dataset" if return_dataset else return_type
    if isinstance(data, RetrievalData):
        loaded = data
    elif isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        loaded = load_data(data, split=split, corpus=corpus, columns=columns)
    else:
        if hasattr(data, "keys") and hasattr(data, "column_names") and isinstance(data.column_names, dict):
            if split not in data:  # a DatasetDict
                raise ValueError(f"the DatasetDict has no split {split!r}; splits: {list(data.keys())}")
            data = data[split]
        if hasattr(data, "to_dict") and hasattr(data, "columns") and hasattr(data, "iloc"):  # a pandas DataFrame
            shape = "pandas" if shape == "auto" else shape
            data = data.to_dict(orient="records")
        elif hasattr(data, "column_names") and hasattr(data, "features"):  # a datasets.Dataset
            shape = "dataset" if shape == "auto" else shape
        loaded = from_hf_dataset(data, corpus=corpus, columns=columns)
    result = mine_negatives(loaded, model, **options)
    if shape == "dataset":
        return result.to_dataset(format, extra_columns)
    if shape == "pandas":
        return result.to_pandas(format, extra_columns)
    return result.to_rows(format, extra_columns)
