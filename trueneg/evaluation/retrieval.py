"""nDCG@10, Recall@100 and MRR@10 of a dense retriever, overall and per query, via pytrec_eval.

Besides the usual metrics over the full ranking, every metric is also reported on *condensed
lists* (Sakai, 2007): the ranking with unjudged documents removed. Unjudged documents are often
unlabeled positives; condensed-list metrics do not punish a model for ranking them high, so the
two together show how much of a difference between models comes from unjudged documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trueneg.candidates.encoders import CacheDir, ModelLike, encoder_for
from trueneg.candidates.pool import retrieve_candidates
from trueneg.data.dataset import RetrievalData

METRICS = {"ndcg@10": "ndcg_cut_10", "recall@100": "recall_100", "mrr@10": "recip_rank"}
NO_JUDGED_NEGATIVES = "the qrels hold no judged negative (grade 0): judged-only metrics would rank positives only"


@dataclass
class EvalResult:
    """Mean metrics (``ndcg@10``, ``recall@100``, ``mrr@10`` and ``judged_only`` versions) and per-query values.

    ``judged_only`` is None when the qrels hold no judged negative (grade 0): the condensed list then
    holds only positives and every metric on it is near 1, which says nothing.
    """

    metrics: dict[str, float]
    judged_only: dict[str, float] | None
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "judged_only": self.judged_only,
            **({} if self.judged_only is not None else {"judged_only_note": NO_JUDGED_NEGATIVES}),
            "queries": len(self.per_query),
            "per_query": self.per_query,
        }


def _measure(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    import pytrec_eval

    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    top10 = {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:10]) for q, docs in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    return {
        q: {name: float({**full.get(q, {}), **mrr.get(q, {})}.get(key, 0.0)) for name, key in METRICS.items()}
        for q in qrels
    }


def evaluate_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> EvalResult:
    """Metrics of a ranked ``run`` (query id -> {doc id: score}) against graded ``qrels``.

    Example:
        >>> evaluate_run({"q": {"a": 1}}, {"q": {"b": 0.9, "a": 0.5}}).metrics["mrr@10"]
        0.5
    """
    # pytrec_eval takes integer grades: a fractional positive grade (0.5) counts as grade 1, never 0
    qrels = {
        q: {d: int(g) if float(g).is_integer() else max(1, round(g)) for d, g in docs.items()}
        for q, docs in qrels.items()
        if any(g > 0 for g in docs.values())
    }
    run = {q: run.get(q, {}) for q in qrels}
    per_query = _measure(qrels, run)
    condensed = {q: {d: s for d, s in docs.items() if d in qrels[q]} for q, docs in run.items()}
    judged = _measure(qrels, condensed)
    mean = {name: round(float(np.mean([v[name] for v in per_query.values()])), 5) for name in METRICS}
    if not any(g == 0 for docs in qrels.values() for g in docs.values()):
        return EvalResult(mean, None, per_query)
    judged_mean = {name: round(float(np.mean([v[name] for v in judged.values()])), 5) for name in METRICS}
    for q in per_query:
        per_query[q].update({f"judged_only_{name}": value for name, value in judged[q].items()})
    return EvalResult(mean, judged_mean, per_query)


def evaluate(
    data: RetrievalData,
    model: ModelLike = None,
    *,
    depth: int = 100,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
    **encoder_settings: Any,
) -> EvalResult:
    """Retrieve the top ``depth`` documents of every judged query with ``model`` and score them.

    ``model`` is an :class:`~trueneg.candidates.Encoder` (e.g. ``SentenceTransformerEncoder(path,
    query_prompt="query: ")``) or a model name/path; ``encoder_settings`` (``backend``, prompts,
    ``batch_size``) are the deprecated way to configure it.

    Example:
        >>> result = evaluate(load_beir("../shared/data/scifact", "test"))  # doctest: +SKIP
        >>> result.metrics["ndcg@10"]  # doctest: +SKIP
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 100:
        raise ValueError(f"depth must be an integer of at least 100 (Recall@100 needs the top 100), got {depth!r}")
    encoder = encoder_for(model, encoder_settings, cache_dir=cache_dir, show_progress=show_progress, caller="evaluate")
    pool = retrieve_candidates(data, encoder, depth=depth, cache_dir=cache_dir, show_progress=show_progress)
    top, top_scores = pool.candidates[:, :depth], pool.scores[:, :depth]  # raw ranking, positives included
    run = {
        q: {data.doc_ids[d]: float(s) for d, s in zip(row, row_scores) if d >= 0}
        for q, row, row_scores in zip(pool.query_ids, top, top_scores)
    }
    query_ids = pool.query_ids
    return evaluate_run({q: data.qrels[q] for q in query_ids}, run)
