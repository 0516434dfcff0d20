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

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.candidates.encoders import DEFAULT_MODEL
from trueneg.candidates.pool import CandidatePool, retrieve_candidates
from trueneg.data.dataset import RetrievalData
from trueneg.io import check_writable
from trueneg.mining import filters
from trueneg.mining.config import MiningConfig, build_config
from trueneg.mining.result import MiningResult
from trueneg.mining.sampling import sample_negatives
from trueneg.mining.teacher import teacher_scores
from trueneg.pu import estimate_false_negatives

DROP_REASONS = (
    "labeled_positive",
    "duplicate_of_positive",
    "out_of_range",
    "near_duplicate",
    "max_score",
    "margin",
    "perc_pos",
    "min_score",
    "fn_probability",
    "judged_relevant",
)


def _looks_like_path(value: str | os.PathLike) -> bool:
    text = os.fspath(value)
    return text.startswith((".", "/", "~")) or text.count("/") >= 2  # "org/name" is a hub id, not a path


def _stats(values: np.ndarray) -> dict[str, float | int]:
    if values.size == 0:
        return {"count": 0}
    return {
        "count": int(values.size),
        "mean": round(float(values.mean()), 4),
        "std": round(float(values.std()), 4),
        "min": round(float(values.min()), 4),
        "median": round(float(np.median(values)), 4),
        "max": round(float(values.max()), 4),
    }


def mine_negatives(
    data: RetrievalData,
    model: Any = None,
    config: MiningConfig | None = None,
    *,
    teacher: Any = None,
    fn_detector: Any = "multi",
    judges: list[Any] | None = None,
    judgments_file: Any = None,
    cache_dir: Any = None,
    show_progress: bool = True,
    pool: CandidatePool | None = None,
    fn_estimate: Any = None,
    fn_cutoff: float | None = None,
    **options: Any,
) -> MiningResult:
    """Mine hard negatives that are unlikely to be unlabeled positives.

    Args:
        data: corpus, queries and qrels (see :mod:`trueneg.data`). Queries without a positive are skipped.
        model: sentence-transformers model name/path/instance, or any :class:`~trueneg.candidates.Encoder`;
            default the offline all-MiniLM-L6-v2. Unused with ``retriever="sparse"``.
        config: the settings below as one validated :class:`~trueneg.mining.config.MiningConfig`
            (default ``MiningConfig()``); settings given as keywords override it.
        num_negatives: negatives per query.
        retriever: ``"dense"`` (exact FAISS inner product), ``"sparse"`` (BM25) or ``"hybrid"``
            (reciprocal-rank fusion of both; filters then use the dense cosine scores).
        backend: ``"torch"`` (full precision) or ``"onnx-int8"`` (faster CPU encoder).
        query_prompt / document_prompt: prompts prepended before encoding.
        sampling: ``"top"``, ``"random"`` or ``"simans"`` (see :mod:`trueneg.mining.sampling`).
        range_min / range_max: rank window of candidates, counted after removing labeled positives
            (``range_min=r`` skips the ``r`` hardest); default ``range_max = range_min + 10 * num_negatives``.
        max_score: TopK-Abs threshold. margin: TopK-MarginPos margin. perc_pos: TopK-PercPos
            percentage (default 0.95; ``None`` disables). min_score: drop candidates scoring lower.
        near_duplicate: TF-IDF cosine above which a candidate counts as a near-duplicate of a
            positive (default 0.9; ``None`` disables).
        simans_a / simans_b: SimANS parameters, for cosine-scale scores.
        teacher: optional bi-encoder or cross-encoder that rescores candidates; its scores then drive
            the filters and hardness order and are written out as soft labels.
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
        batch_size: encoding batch size. cache_dir: embedding cache (``False`` disables).
        show_progress: progress bars.
        pool: candidates from :func:`~trueneg.candidates.pool.retrieve_candidates` to reuse (they
            must cover ``range_max``); its retriever settings then replace ``model``/``retriever``/prompts.
        fn_estimate: a :class:`~trueneg.pu.FalseNegativeEstimate` already computed on ``pool``, used
            instead of fitting one again.
        fn_cutoff: with ``max_fn_rate``, use this probability cutoff instead of searching one on ``pool``
            (the streamed path chooses it once on a sample of queries and applies it to every chunk).

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
    cfg = build_config(config, **options)
    range_max = cfg.window[1]
    for name, value in (("model", model), ("teacher", teacher)):
        if isinstance(value, (str, os.PathLike)) and _looks_like_path(value) and not Path(value).exists():
            raise ValueError(f"{name} {str(value)!r}: no such model folder (nothing is downloaded; give a folder)")
    if judgments_file is not None:
        check_writable(judgments_file, "judgments file")
    # 1. Candidates, in retrieval order, and the scores the filters read.
    if pool is None:
        pool = retrieve_candidates(
            data,
            model,
            depth=range_max,
            retriever=cfg.retriever,
            backend=cfg.backend,
            query_prompt=cfg.query_prompt,
            document_prompt=cfg.document_prompt,
            batch_size=cfg.batch_size,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
    query_ids, query_texts, cand, scores = pool.query_ids, pool.query_texts, pool.candidates, pool.scores
    positives, judged_negatives = pool.positives, pool.judged_negatives
    pos_q, pos_d, pos_scores = pool.positive_query, pool.positive_doc, pool.positive_scores
    n_q = len(query_ids)

    # 2. Structural exclusions: labeled positives, exact duplicates of a positive, rank window.
    valid = cand >= 0
    drop = {reason: np.zeros(cand.shape, dtype=bool) for reason in DROP_REASONS}
    drop["labeled_positive"] = filters.member_of(cand, positives) & valid
    groups = data.duplicate_groups()
    cand_groups = np.where(valid, groups[np.maximum(cand, 0)], -1)
    pos_groups = np.where(positives >= 0, groups[np.maximum(positives, 0)], -1)
    drop["duplicate_of_positive"] = filters.member_of(cand_groups, pos_groups) & valid & ~drop["labeled_positive"]
    rank = np.cumsum(valid & ~drop["labeled_positive"], axis=1) - 1
    structural = ~valid | drop["labeled_positive"] | drop["duplicate_of_positive"]
    drop["out_of_range"] = ~structural & ((rank < cfg.range_min) | (rank >= range_max))
    alive = ~structural & ~drop["out_of_range"]

    # 3. Teacher rescoring of the surviving candidates and the positives.
    if teacher is not None:
        rows, cols = np.nonzero(alive)
        both_q = np.concatenate([rows, pos_q])
        both_d = np.concatenate([cand[rows, cols], pos_d])
        rescored = teacher_scores(
            teacher,
            query_texts,
            data.doc_texts,
            both_q,
            both_d,
            teacher_type=cfg.teacher_type,
            batch_size=cfg.batch_size,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
        scores = np.full(cand.shape, -np.inf, dtype=np.float32)
        scores[rows, cols] = rescored[: len(rows)]
        pos_scores = rescored[len(rows) :]
    per_query_pos = np.split(pos_scores, np.cumsum(np.bincount(pos_q, minlength=n_q))[:-1])
    anchor = filters.anchor_scores(per_query_pos)

    estimate = None
    perc_pos = None if cfg.max_fn_rate is not None else cfg.perc_pos  # the detector replaces TopK-PercPos
    if cfg.max_fn_rate is not None or cfg.estimate_fn or cfg.fn_action != "drop" or judges:
        estimate = fn_estimate or estimate_false_negatives(
            pool, data, detector=fn_detector, estimator=cfg.fn_estimator, seed=cfg.seed
        )

    # 4. False-negative filters; judged negatives are exempt.
    exempt = filters.member_of(cand, judged_negatives)
    if cfg.near_duplicate is not None:
        used = np.unique(np.concatenate([cand[alive], pos_d]))
        lookup = np.full(len(data.doc_texts), -1, dtype=np.int64)
        lookup[used] = np.arange(len(used))
        vectors = filters.tfidf_matrix([data.doc_texts[i] for i in used])
        local_cand = np.where(alive, lookup[np.maximum(cand, 0)], -1)
        local_pos = np.where(positives >= 0, lookup[np.maximum(positives, 0)], -1)
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
    eligible = alive & ~counted

    # 5. Sampling, in hardness order: retrieval order, or teacher score order with a teacher.
    order = np.argsort(-np.where(alive, scores, -np.inf), axis=1, kind="stable") if teacher is not None else None

    query_rows = np.array([data.query_index(q) for q in query_ids], dtype=np.int64)

    def select(mask: np.ndarray) -> np.ndarray:
        """Chosen columns (original order) per query, -1 padded; random keys follow (query, document)."""
        options = (cfg.num_negatives, cfg.sampling, cfg.simans_a, cfg.simans_b, cfg.seed, query_rows)
        if order is None:
            return sample_negatives(mask, scores, anchor, *options, items=np.maximum(cand, 0))
        mask_o, scores_o = np.take_along_axis(mask, order, axis=1), np.take_along_axis(scores, order, axis=1)
        cand_o = np.maximum(np.take_along_axis(cand, order, axis=1), 0)
        chosen_o = sample_negatives(mask_o, scores_o, anchor, *options, items=cand_o)
        return np.where(chosen_o >= 0, np.take_along_axis(order, np.maximum(chosen_o, 0), axis=1), -1)

    fn_summary = None
    inferred = np.zeros(cand.shape, dtype=bool)
    dropped_queries = np.zeros(n_q, dtype=bool)
    if estimate is not None:
        probability = np.where(exempt, 0.0, np.nan_to_num(estimate.probability, nan=1.0))
        suspect = alive & ~exempt & (probability >= cfg.relabel_probability)
        if judges:
            suspect = _judge(data, pool, suspect, probability, judges, cfg.judge_budget, judgments_file)
            if cfg.fn_action == "drop":
                drop["judged_relevant"] = suspect & eligible
                eligible &= ~suspect
        inferred, dropped_queries = _fn_actions(
            suspect, probability, cfg.fn_action, cfg.max_inferred, cfg.drop_query_count
        )
        eligible &= ~inferred & ~dropped_queries[:, None]
        if cfg.max_fn_rate is not None:
            if fn_cutoff is None:
                cutoff, eligible = _fn_cutoff(eligible, probability, exempt, select, cfg.max_fn_rate)
            else:
                cutoff, eligible = fn_cutoff, eligible & ((probability <= fn_cutoff) | exempt)
            drop["fn_probability"] = alive & ~counted & ~eligible
        chosen = select(eligible)
        picked = np.zeros(cand.shape, dtype=bool)
        picked[np.nonzero(chosen >= 0)[0], chosen[chosen >= 0]] = True
        rate = estimate.rate(picked)
        fn_summary = {
            "detector": estimate.details,
            "estimator": estimate.estimator,
            "label_frequency": round(estimate.label_frequency, 4),
            "label_frequency_ci": [round(v, 4) for v in estimate.label_frequency_ci],
            "max_fn_rate": cfg.max_fn_rate,
            "cutoff": None if cfg.max_fn_rate is None else round(float(cutoff), 6),
            "estimated_fn_rate": round(rate[0], 5),
            "ci_low": round(rate[1], 5),
            "ci_high": round(rate[2], 5),
        }
    else:
        chosen = select(eligible)
    have = chosen >= 0
    negatives = np.where(have, np.take_along_axis(cand, np.maximum(chosen, 0), axis=1), -1)
    neg_scores = np.where(have, np.take_along_axis(scores, np.maximum(chosen, 0), axis=1), np.nan).astype(np.float32)
    judged_emitted = int((filters.member_of(negatives, judged_negatives) & have).sum())
    neg_probs = None
    if estimate is not None:
        neg_probs = np.where(have, np.take_along_axis(probability, np.maximum(chosen, 0), axis=1), np.nan)

    n_neg = have.sum(axis=1)
    short = np.flatnonzero(n_neg < cfg.num_negatives)
    summary = {
        "source": data.source,
        "skipped": data.skipped or None,
        "queries": n_q,
        "queries_without_positive": len(data.qrels) - n_q,
        "retriever": cfg.retriever,
        "model": None if cfg.retriever == "sparse" else str(model or DEFAULT_MODEL),
        "backend": None if cfg.retriever == "sparse" else cfg.backend,
        "teacher": None if teacher is None else str(teacher),
        "sampling": cfg.sampling,
        "num_negatives": cfg.num_negatives,
        "range": [cfg.range_min, range_max],
        "filters": {
            "max_score": cfg.max_score,
            "margin": cfg.margin,
            "perc_pos": perc_pos,
            "min_score": cfg.min_score,
            "near_duplicate": cfg.near_duplicate,
        },
        "candidates": int(valid.sum()),
        "dropped": {reason: int(drop[reason].sum()) for reason in DROP_REASONS},
        "not_sampled": int((eligible.sum(axis=1) - n_neg).sum()),
        "negatives_emitted": int(have.sum()),
        "judged_negatives_emitted": judged_emitted,
        "queries_short_of_negatives": int(len(short)),
        "queries_without_negatives": int((n_neg == 0).sum()),
        "short_query_ids": [query_ids[i] for i in short[:20]],
        "scores": {
            "positive": _stats(pos_scores),
            "anchor_positive": _stats(anchor),
            "negative": _stats(neg_scores[have]),
        },
        "false_negatives": fn_summary,
        "fn_action": {
            "action": cfg.fn_action,
            "relabel_probability": cfg.relabel_probability,
            "relabeled": int(inferred.sum()),
            "queries_relabeled": int(inferred.any(axis=1).sum()),
            "queries_dropped": int(dropped_queries.sum()),
        },
        "texts_encoded": pool.texts_encoded,
        "seconds": round(time.perf_counter() - started, 2),
    }
    pos_lists = np.split(pos_d, np.cumsum(np.bincount(pos_q, minlength=n_q))[:-1])
    return MiningResult(
        query_ids=query_ids,
        query_texts=query_texts,
        doc_ids=data.doc_ids,
        doc_texts=data.doc_texts,
        positives=pos_lists,
        positive_scores=per_query_pos,
        negatives=negatives,
        negative_scores=neg_scores,
        soft_labels=teacher is not None,
        summary=summary,
        query_prompt=cfg.query_prompt,
        inferred=[cand[i][inferred[i]] for i in range(n_q)] if cfg.fn_action == "relabel" else None,
        inferred_scores=[scores[i][inferred[i]] for i in range(n_q)] if cfg.fn_action == "relabel" else None,
        inferred_probabilities=[probability[i][inferred[i]] for i in range(n_q)]
        if cfg.fn_action == "relabel"
        else None,
        negative_probabilities=None if neg_probs is None else neg_probs.astype(np.float32),
        dropped_queries=dropped_queries,
    )


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
    record: Any,
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
    flagged, _ = run_cascade(items, list(judges), budget, record) if items else (np.zeros(0, dtype=bool), [])
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
    eligible: np.ndarray, probability: np.ndarray, exempt: np.ndarray, select: Any, target: float
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
    model: Any = None,
    *,
    format: str = "flagembedding",
    split: str = "train",
    corpus: Any = None,
    columns: Any = None,
    return_dataset: bool = False,
    **options: Any,
) -> Any:
    """Mine negatives and return the output rows of ``format``, as ``trueneg mine`` writes them.

    ``data`` is a :class:`~trueneg.data.RetrievalData`, a BEIR folder or pair file path, a Hugging Face
    ``datasets.Dataset`` of (query, positive) columns, a ``DatasetDict`` (its ``split``), or a pandas
    ``DataFrame`` of the same columns. ``corpus``: extra documents (a list of texts, or a corpus file
    path for a pair file) that serve as negative candidates. ``columns``: a
    :class:`~trueneg.data.Columns` naming the pair columns. ``options`` are those of
    :func:`mine_negatives`. With ``return_dataset=True`` the rows come back as a ``datasets.Dataset``.

    Example:
        >>> import trueneg
        >>> rows = trueneg.mine("../shared/data/scifact", split="train")  # doctest: +SKIP
        >>> sorted(rows[0])  # doctest: +SKIP
        ['neg', 'neg_scores', 'pos', 'pos_scores', 'query']
    """
    from trueneg.data.loaders import from_hf_dataset, load_data

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
            data = data.to_dict(orient="records")
        loaded = from_hf_dataset(data, corpus=corpus, columns=columns)
    result = mine_negatives(loaded, model, **options)
    return result.to_dataset(format) if return_dataset else result.to_rows(format)
