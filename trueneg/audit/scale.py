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
from typing import Any, Literal

from trueneg.audit.config import AuditConfig
from trueneg.audit.report import AuditResult, audit_run
from trueneg.candidates.encoders import CacheDir, ModelLike, pop_encoder_settings
from trueneg.data.dataset import RetrievalData
from trueneg.mining.config import ScaleConfig
from trueneg.mining.engine import Inputs, open_source, plan
from trueneg.pu.detector import DetectorLike


def audit_at_scale(
    data: RetrievalData,
    model: ModelLike = None,
    config: AuditConfig | None = None,
    scale: ScaleConfig | None = None,
    *,
    detector: DetectorLike = "multi",
    teacher: Any = None,
    teacher_type: Literal["auto", "bi-encoder", "cross-encoder"] = "auto",
    corpus_embeddings: str | os.PathLike | None = None,
    query_embeddings: str | os.PathLike | None = None,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
    **options: Any,
) -> AuditResult:
    """Audit ``data`` through the scale path.

    ``config`` is the :class:`~trueneg.audit.config.AuditConfig` of :func:`trueneg.audit.audit` (dense
    retriever), ``scale`` the :class:`~trueneg.mining.config.ScaleConfig` and the embedding files those
    of :func:`trueneg.mine_to_file`; ``options`` are fields of either config by name. ``teacher`` is the
    second model of :func:`trueneg.audit.audit`: its scores enter the detector fit on the sample, and every chunk.

    Example:
        >>> files = dict(corpus_embeddings="corpus.npy", query_embeddings="queries.npy")
        >>> result = audit_at_scale(data, **files)  # doctest: +SKIP
        >>> result.write("audit/")  # doctest: +SKIP
    """
    settings = pop_encoder_settings(options)
    scale = ScaleConfig.build(scale, **ScaleConfig.take(options))
    cfg = AuditConfig.build(config, **options)
    inputs = Inputs(fn_detector=detector, teacher=teacher, corpus_embeddings=corpus_embeddings,
                    query_embeddings=query_embeddings, cache_dir=cache_dir, show_progress=show_progress)  # fmt: skip
    mining = cfg.mining().replace(teacher_type=teacher_type)
    run = plan(data, model, mining, scale, inputs=inputs, purpose="audit", depth=max(cfg.depth, mining.window[1]),
               **settings)  # fmt: skip
    with open_source(run) as source:
        sink = audit_run(run, source, cfg)
    header = {"source": data.source, "retriever": "dense", **source.describe,
              "teacher": None if teacher is None else str(teacher), "fit_on_queries": sink.fitted.fit_on}  # fmt: skip
    return sink.result(header, cfg)
