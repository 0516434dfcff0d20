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

from trueneg import signals
from trueneg.audit.config import AuditConfig
from trueneg.audit.report import AuditResult, AuditTally
from trueneg.candidates.encoders import CacheDir, ModelLike
from trueneg.data.dataset import RetrievalData
from trueneg.mining.config import ScaleConfig
from trueneg.mining.stream import scale_setup, scaled_miner
from trueneg.pu.detector import DetectorLike


def audit_at_scale(
    data: RetrievalData,
    model: ModelLike = None,
    config: AuditConfig | None = None,
    scale: ScaleConfig | None = None,
    *,
    detector: DetectorLike = "multi",
    corpus_embeddings: str | os.PathLike | None = None,
    query_embeddings: str | os.PathLike | None = None,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
    **options: Any,
) -> AuditResult:
    """Audit ``data`` through the scale path.

    ``config`` is the :class:`~trueneg.audit.config.AuditConfig` of :func:`trueneg.audit.audit` (dense
    retriever), ``scale`` the :class:`~trueneg.mining.config.ScaleConfig` and the embedding files those
    of :func:`trueneg.mine_to_file`; ``options`` are fields of either config by name.

    Example:
        >>> files = dict(corpus_embeddings="corpus.npy", query_embeddings="queries.npy")
        >>> result = audit_at_scale(data, **files)  # doctest: +SKIP
        >>> result.write("audit/")  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    cfg, scale, encoder = scale_setup(
        AuditConfig, config, scale, options, model, cache_dir=cache_dir, show_progress=show_progress,
        caller="audit_at_scale",
    )  # fmt: skip
    mining = cfg.mining()
    with scaled_miner(
        data, encoder, mining, scale, depth=max(cfg.depth, mining.window[1]), format="flagembedding",
        fn_detector=detector, corpus_embeddings=corpus_embeddings, query_embeddings=query_embeddings,
        cache_dir=cache_dir, show_progress=show_progress,
    ) as (miner, info):  # fmt: skip
        tally = AuditTally(cfg.depth, cfg.top_k, cfg.n_suspects, seed=cfg.seed)
        fn_summary = None
        for start, stop in tqdm(info["bounds"], desc="Auditing chunks", disable=not show_progress):
            signals.check()
            pool = miner.pool(start, stop)
            est = miner.fn_model.predict(pool, miner.fn_model.evidence_)
            mined = miner.mine(pool, est)
            tally.add(data, pool, est, mined)
            fn_summary = fn_summary or mined.summary["false_negatives"]
    header = {"source": data.source, "retriever": "dense", **info["describe"], "fit_on_queries": info["fit_on"]}
    return tally.result(header, est, fn_summary, cfg)
