"""``mine_pool``: the negatives of one candidate pool, in five stages over one state object.

The stages, each vectorized over all queries: (1) structural exclusions and the rank window,
(2) teacher rescoring, (3) the positive-aware filters, (4) the false-negative detector and its
action (relabel, drop-query, a judge cascade, the ``max_fn_rate`` cutoff), (5) sampling in
hardness order. What each rule drops is counted under :data:`~trueneg.mining.rules.RULES`; the summary
is derived from the final state. Judged negatives (qrels grade 0) are known negatives: exempt from
the filters and the detector, but they obey the rank window and sampling.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trueneg.candidates.encoders import CacheDir
from trueneg.candidates.pool import CandidatePool
from trueneg.data.dataset import RetrievalData
from trueneg.mining import filters
from trueneg.mining.config import MiningConfig
from trueneg.mining.result import MiningResult
from trueneg.mining.rules import DROP_REASONS, REMEDIES, FilterInput, apply_filters, filter_settings
from trueneg.mining.sampling import sample_negatives
from trueneg.mining.summary import MiningSummary
from trueneg.mining.teacher import pool_scorer, teacher_scores
from trueneg.pu import Evidence, FalseNegativeEstimate, estimate_false_negatives
from trueneg.pu.detector import DetectorLike


@dataclass
class _State:
    """What the stages of one pool share; each stage fills its fields."""

    data: RetrievalData
    pool: CandidatePool
    cfg: MiningConfig
    valid: np.ndarray  # a candidate in this slot
    alive: np.ndarray  # inside the rank window and not a positive or a copy of one
    drop: dict[str, np.ndarray]  # the mask of each rule
    exempt: np.ndarray  # judged negatives
    scores: np.ndarray | None = None
    positive_scores: np.ndarray | None = None
    per_query_positive: list[np.ndarray] = field(default_factory=list)
    anchor: np.ndarray | None = None
    eligible: np.ndarray | None = None
    filtered: np.ndarray | None = None  # what the filters leave, before the detector's action and cutoff
    select: Callable[[np.ndarray], np.ndarray] | None = None
    estimate: FalseNegativeEstimate | None = None
    probability: np.ndarray | None = None
    inferred: np.ndarray | None = None
    dropped_queries: np.ndarray | None = None
    cutoff: float | None = None
    chosen: np.ndarray | None = None


def _window(data: RetrievalData, pool: CandidatePool, cfg: MiningConfig) -> _State:
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
    exempt = filters.member_of(cand, pool.judged_negatives)
    return _State(data, pool, cfg, valid, ~structural & ~drop["out_of_range"], drop, exempt)


def _filter(s: _State) -> None:
    """Stage 3: the positive-aware filters of :data:`~trueneg.mining.rules.RULES` and the sampler in hardness order."""
    pool = s.pool
    n_q = len(pool.query_ids)
    s.per_query_positive = np.split(s.positive_scores, np.cumsum(np.bincount(pool.positive_query, minlength=n_q))[:-1])
    s.anchor = filters.anchor_scores(s.per_query_positive)
    x = FilterInput(s.data.doc_texts, pool.candidates, pool.positives, pool.positive_doc, s.scores, s.anchor, s.alive)
    s.eligible = apply_filters(x, s.cfg, s.exempt, s.drop)
    s.filtered = s.eligible.copy()
    rescored = s.scores is not pool.scores
    order = np.argsort(-np.where(s.alive, s.scores, -np.inf), axis=1, kind="stable") if rescored else None
    query_rows = np.array([s.data.query_index(q) for q in pool.query_ids], dtype=np.int64)
    s.select = _sampler(pool.candidates, s.scores, s.anchor, order, query_rows, s.cfg)


def estimate_on_pool(
    data: RetrievalData,
    pool: CandidatePool,
    cfg: MiningConfig,
    detector: DetectorLike = "multi",
    scorer: Callable[..., np.ndarray] | None = None,
    *,
    show_progress: bool = True,
) -> FalseNegativeEstimate:
    """The detector fit out of fold on ``pool``; a teacher's ``scorer`` (:func:`~trueneg.mining.teacher.pool_scorer`)
    gives it the ``teacher_*`` signals."""
    evidence = Evidence.from_pool(data, pool, teacher=scorer) if scorer is not None else None
    return estimate_false_negatives(
        pool, data, detector=detector, estimator=cfg.fn_estimator, seed=cfg.seed, show_progress=show_progress,
        evidence=evidence,
    )  # fmt: skip


def _detect(
    s: _State, fn_cutoff: float | None, judges: list[Any] | None, judgments_file: Any, show_progress: bool
) -> None:
    """Stage 4: the detector's probabilities, the suspects and their action, the judges, the ``max_fn_rate`` cutoff."""
    cfg, est = s.cfg, s.estimate
    s.inferred = np.zeros(s.pool.candidates.shape, dtype=bool)
    s.dropped_queries = np.zeros(len(s.pool.query_ids), dtype=bool)
    if est is None:
        return
    s.probability = np.where(s.exempt, 0.0, np.nan_to_num(est.probability, nan=1.0))
    suspect = s.alive & ~s.exempt & (s.probability >= cfg.relabel_probability)
    if judges:
        suspect = _judge(s.data, s.pool, suspect, s.probability, judges, cfg.judge_budget, judgments_file,
                         show_progress)  # fmt: skip
        if cfg.fn_action == "drop":
            s.drop["judged_relevant"] = suspect & s.eligible
            s.eligible &= ~suspect
    s.inferred, s.dropped_queries = _fn_actions(
        suspect, s.probability, cfg.fn_action, cfg.max_inferred, cfg.drop_query_count
    )
    s.eligible &= ~s.inferred & ~s.dropped_queries[:, None]
    if cfg.max_fn_rate is not None:
        if fn_cutoff is None:
            s.cutoff, s.eligible = _fn_cutoff(s.eligible, s.probability, s.exempt, s.select, cfg.max_fn_rate)
        else:
            s.cutoff, s.eligible = fn_cutoff, s.eligible & ((s.probability <= fn_cutoff) | s.exempt)
        s.drop["fn_probability"] = s.filtered & ~s.eligible


def _stages(
    data: RetrievalData,
    pool: CandidatePool,
    cfg: MiningConfig,
    estimate: Callable[[], FalseNegativeEstimate | None],
    rescore: Callable[[_State], tuple[np.ndarray, np.ndarray]] | None = None,
    **detect: Any,
) -> _State:
    """Stages 1-4 on ``pool``: the state from which sampling (stage 5) picks. ``estimate()`` runs after the
    rescoring (a teacher's embeddings are then cached in the order earlier versions wrote them)."""
    s = _window(data, pool, cfg)
    s.scores, s.positive_scores = rescore(s) if rescore is not None else (pool.scores, pool.positive_scores)
    _filter(s)
    s.estimate = estimate()
    _detect(s, detect.get("fn_cutoff"), detect.get("judges"), detect.get("judgments_file"),
            detect.get("show_progress", False))  # fmt: skip
    return s


def fn_cutoff_on(data: RetrievalData, pool: CandidatePool, cfg: MiningConfig, estimate: FalseNegativeEstimate) -> float:
    """The ``max_fn_rate`` probability cutoff that :func:`mine_pool` would choose on ``pool`` (stages 1-4 only)."""
    return _stages(data, pool, cfg, lambda: estimate).cutoff


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
    """Mine the negatives of a given candidate pool with a given false-negative model (see the module docstring).

    :func:`~trueneg.mining.mine_negatives` and the scale path reach this through the engine
    (:mod:`trueneg.mining.engine`), which checks every file before any work; called directly, nothing
    here checks ``judgments_file`` before the judges run.

    Args:
        pool: candidates from :func:`~trueneg.candidates.pool.retrieve_candidates` (covering the window).
        config: the :class:`~trueneg.mining.config.MiningConfig` (its ``retriever`` is the pool's).
        fn_estimate: a :class:`~trueneg.pu.FalseNegativeEstimate` on ``pool``; default: fit
            ``fn_detector`` on it (:func:`estimate_on_pool`) when the configuration needs a detector.
        fn_cutoff: with ``max_fn_rate``, this probability cutoff instead of one searched on ``pool``.
        teacher / judges / judgments_file: as in :func:`~trueneg.mining.mine_negatives`; ``batch_size`` and
            ``cache_dir`` are the teacher's.

    Example:
        >>> from trueneg.candidates.pool import retrieve_candidates
        >>> pool = retrieve_candidates(data, depth=40)  # doctest: +SKIP
        >>> result = mine_pool(data, pool, MiningConfig(num_negatives=4, max_fn_rate=0.05))  # doctest: +SKIP
    """
    started = time.perf_counter()
    cfg = config or MiningConfig()
    encoding = {"batch_size": batch_size, "cache_dir": cache_dir, "show_progress": show_progress}

    def estimate() -> FalseNegativeEstimate | None:
        if fn_estimate is not None or not (cfg.detects or judges):
            return fn_estimate
        scorer = None if teacher is None else pool_scorer(teacher, data, cfg.teacher_type, batch_size, cache_dir,
                                                          show_progress)  # fmt: skip
        return estimate_on_pool(data, pool, cfg, fn_detector, scorer, show_progress=show_progress)

    rescore = None if teacher is None else (lambda s: _rescore(s, teacher, **encoding))
    s = _stages(data, pool, cfg, estimate, rescore, fn_cutoff=fn_cutoff, judges=judges,
                judgments_file=judgments_file, show_progress=show_progress)  # fmt: skip
    s.chosen = s.select(s.eligible)  # stage 5: sampling
    return _result(s, teacher, round(time.perf_counter() - started, 2))


def _result(s: _State, teacher: Any, seconds: float) -> MiningResult:
    """The mined negatives of the final state, with the summary derived from it."""
    pool, cand, cfg = s.pool, s.pool.candidates, s.cfg
    n_q = len(pool.query_ids)
    have = s.chosen >= 0
    pick = np.maximum(s.chosen, 0)
    negatives = np.where(have, np.take_along_axis(cand, pick, axis=1), -1)
    neg_scores = np.where(have, np.take_along_axis(s.scores, pick, axis=1), np.nan).astype(np.float32)
    neg_probs = None
    if s.probability is not None:
        neg_probs = np.where(have, np.take_along_axis(s.probability, pick, axis=1), np.nan).astype(np.float32)
    relabel = cfg.fn_action == "relabel"
    inferred = s.inferred
    return MiningResult(
        query_ids=pool.query_ids,
        query_texts=pool.query_texts,
        doc_ids=s.data.doc_ids,
        doc_texts=s.data.doc_texts,
        positives=np.split(pool.positive_doc, np.cumsum(np.bincount(pool.positive_query, minlength=n_q))[:-1]),
        positive_scores=s.per_query_positive,
        negatives=negatives,
        negative_scores=neg_scores,
        soft_labels=teacher is not None,
        summary=_summary(s, negatives, neg_scores, teacher, seconds),
        inferred=[cand[i][inferred[i]] for i in range(n_q)] if relabel else None,
        inferred_scores=[s.scores[i][inferred[i]] for i in range(n_q)] if relabel else None,
        inferred_probabilities=[s.probability[i][inferred[i]] for i in range(n_q)] if relabel else None,
        negative_probabilities=neg_probs,
        dropped_queries=s.dropped_queries,
    )


def _summary(s: _State, negatives: np.ndarray, neg_scores: np.ndarray, teacher: Any, seconds: float) -> MiningSummary:
    """The :class:`~trueneg.mining.summary.MiningSummary` of the final state."""
    pool, cfg, data = s.pool, s.cfg, s.data
    n_q = len(pool.query_ids)
    have = s.chosen >= 0
    n_neg = have.sum(axis=1)
    short = np.flatnonzero(n_neg < cfg.num_negatives)
    return MiningSummary(
        source=data.source,
        skipped=data.skipped or None,
        queries=n_q,
        queries_without_positive=len(data.qrels) - n_q,
        retriever=cfg.retriever,
        teacher=None if teacher is None else str(teacher),
        sampling=cfg.sampling,
        num_negatives=cfg.num_negatives,
        range=list(cfg.window),
        filters=filter_settings(cfg),
        candidates=int(s.valid.sum()),
        dropped={reason: int(s.drop[reason].sum()) for reason in DROP_REASONS},
        not_sampled=int((s.eligible.sum(axis=1) - n_neg).sum()),
        negatives_emitted=int(have.sum()),
        judged_negatives_emitted=int((filters.member_of(negatives, pool.judged_negatives) & have).sum()),
        queries_short_of_negatives=int(len(short)),
        queries_without_negatives=int((n_neg == 0).sum()),
        short_query_ids=[pool.query_ids[i] for i in short[:20]],
        false_negatives=None if s.estimate is None else s.estimate.mined(s.chosen, cfg.max_fn_rate, s.cutoff),
        fn_action={
            "action": cfg.fn_action,
            "relabel_probability": cfg.relabel_probability,
            "relabeled": int(s.inferred.sum()),
            "queries_relabeled": int(s.inferred.any(axis=1).sum()),
            "queries_dropped": int(s.dropped_queries.sum()),
        },
        texts_encoded=pool.texts_encoded,
        seconds=seconds,
        values={"positive": s.positive_scores, "anchor_positive": s.anchor, "negative": neg_scores[have]},
    )


def _rescore(s: _State, teacher: Any, **encoding: Any) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2: the teacher's scores of the window's candidates and of the positives."""
    pool = s.pool
    rows, cols = np.nonzero(s.alive)
    both_q = np.concatenate([rows, pool.positive_query])
    both_d = np.concatenate([pool.candidates[rows, cols], pool.positive_doc])
    rescored = teacher_scores(
        teacher, pool.query_texts, s.data.doc_texts, both_q, both_d, teacher_type=s.cfg.teacher_type, **encoding
    )
    scores = np.full(pool.candidates.shape, -np.inf, dtype=np.float32)
    scores[rows, cols] = rescored[: len(rows)]
    return scores, rescored[len(rows) :]


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
