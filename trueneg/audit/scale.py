"""The audit on the streamed pool: fit on a sample of queries, apply to every query chunk.

Same report as :func:`trueneg.audit.audit` (``report.html`` + ``audit.json``), computed in bounded
memory: the false-negative model (``g`` and the label frequency) is fit once on ``fn_sample``
queries (:func:`~trueneg.pu.fit_detector`), then every chunk of queries is
retrieved through the index, scored by that fixed model and added to an
:class:`~trueneg.audit.report.AuditTally`. The dataset rate, the pooling-bias curve and the suspects
therefore cover all queries, not just the sample. Unlike the in-memory audit, ``g`` is not fit
out-of-fold, so the sample's own labeled pairs were seen by the classifier (a logistic regression
on two features: the effect is small, and it only touches the ``fn_sample`` queries).
"""

from __future__ import annotations

import os
from typing import Any

from trueneg.audit.report import AuditResult, AuditTally, check_audit_options
from trueneg.data.dataset import RetrievalData
from trueneg.mining.mine import mine_negatives
from trueneg.mining.stream import scaled_miner


def audit_at_scale(
    data: RetrievalData,
    model: Any = None,
    *,
    corpus_embeddings: str | os.PathLike | None = None,
    query_embeddings: str | os.PathLike | None = None,
    index: str = "auto",
    max_memory: str | int = "4GiB",
    target_recall: float = 0.95,
    fn_sample: int = 2000,
    depth: int = 100,
    top_k: int = 10,
    estimator: str = "roc",
    detector: str = "multi",
    n_suspects: int = 100,
    num_negatives: int = 10,
    perc_pos: float | None = 0.95,
    max_fn_rate: float | None = None,
    backend: str = "torch",
    seed: int = 0,
    cache_dir: Any = None,
    show_progress: bool = True,
) -> AuditResult:
    """Audit ``data`` through the scale path.

    Arguments are those of :func:`trueneg.audit.audit` and :func:`trueneg.mine_to_file`.

    Example:
        >>> files = dict(corpus_embeddings="corpus.npy", query_embeddings="queries.npy")
        >>> result = audit_at_scale(data, **files)  # doctest: +SKIP
        >>> result.write("audit/")  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    check_audit_options(depth, top_k, n_suspects)
    options = dict(
        num_negatives=num_negatives, perc_pos=perc_pos, max_fn_rate=max_fn_rate, estimate_fn=True,
        fn_estimator=estimator, fn_detector=detector, seed=seed,
    )  # fmt: skip
    with scaled_miner(
        data, model, depth=max(depth, 10 * num_negatives), format="flagembedding", options=options,
        corpus_embeddings=corpus_embeddings, query_embeddings=query_embeddings, index=index, max_memory=max_memory,
        target_recall=target_recall, fn_sample=fn_sample, backend=backend, cache_dir=cache_dir,
        show_progress=show_progress,
    ) as (miner, info):  # fmt: skip
        tally = AuditTally(depth, top_k, n_suspects, seed=seed)
        fn_summary = None
        for start, stop in tqdm(info["bounds"], desc="Auditing chunks", disable=not show_progress):
            pool = miner.pool(start, stop)
            est = miner.fn_model.predict(pool, miner.fn_model.evidence_)
            mined = mine_negatives(
                data, pool=pool, fn_estimate=est, fn_cutoff=miner.fn_cutoff, show_progress=False, **options
            )
            tally.add(data, pool, est, mined)
            fn_summary = fn_summary or mined.summary["false_negatives"]
    header = {"source": data.source, "retriever": "dense", **info["describe"], "fit_on_queries": info["fit_on"]}
    return tally.result(header, est, fn_summary, num_negatives, perc_pos, max_fn_rate)
