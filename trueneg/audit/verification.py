"""The audit's verification: a sample to judge (``verify.jsonl``), and verified estimates from its judgments.

The maths (the frame, the design, the estimator, the judgments reader) is in :mod:`trueneg.pu.verify`;
this module puts it into an audit's summary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.candidates.pool import CandidatePool
from trueneg.data.dataset import DataError, RetrievalData
from trueneg.pu.detector import FalseNegativeEstimate
from trueneg.pu.verify import (
    EMITTED_SHARE,
    TOP_SHARE,
    check_enough,
    frame_of,
    match,
    read_judgments,
    sample_rows,
    strata_of,
    verified_block,
)


def verify_audit(
    summary: dict[str, Any],
    data: RetrievalData,
    pool: CandidatePool,
    est: FalseNegativeEstimate,
    emitted: np.ndarray,
    config: Any,
    judgments: str | os.PathLike | None = None,
) -> list[dict[str, Any]] | None:
    """Add the verification to an audit ``summary``; return the rows of a new sample (``config.verify`` > 0).

    ``emitted``: the ``(Q, K)`` mask of the negatives the assessed mining configuration emits.
    With ``judgments`` (a filled ``verify.jsonl``) the summary gains ``verified``: the top-k rate, the
    expected missing positives per query and the emitted negatives' rate, each with its interval,
    beside the model-based figures (``model_based``), which rest on the PU assumption.
    """
    frame = frame_of(data, pool, est, config.depth)
    top, in_emitted = frame.rank < config.top_k, frame.mask(emitted)
    rows = None
    focus = [(top, TOP_SHARE), (in_emitted & ~top, EMITTED_SHARE)]
    if config.verify:
        rows = sample_rows(data, pool, frame, config.verify, config.seed, focus=focus)
        summary["verification"] = {"rows": len(rows), "sample_id": rows[0]["sample_id"], "file": "verify.jsonl",
                                   "frame_pairs": len(frame)}  # fmt: skip
    if judgments is None:
        return rows
    read = read_judgments(judgments)
    check_enough(read)
    draws = read.draws(match(read, frame, config.seed), strata_of(len(frame), focus))
    block = verified_block(read, frame, draws, {"top_k": top, "pool": np.ones(len(frame), bool),
                                                    "mining": in_emitted}, config.level)  # fmt: skip
    n_emitted = int(emitted.sum())
    mining = block.pop("mining")
    if n_emitted:  # the rate of the emitted negatives counts judged negatives among them as clean
        scale = mining["pairs"] / n_emitted
        mining = {**mining, **{k: round(mining[k] * scale, 5) for k in ("estimated_fn_rate", "ci_low", "ci_high")},
                  "negatives": n_emitted}  # fmt: skip
    top_k, pool_block = block.pop("top_k"), block.pop("pool")
    summary["verified"] = {
        **{k: top_k[k] for k in ("estimated_fn_rate", "ci_low", "ci_high")},
        "judged": block["judged"],
        "level": block["level"],
        "top_k_pairs": top_k["pairs"],
        "expected_fn_per_query_top_k": round(top_k["expected_missing_positives"] / max(summary["queries"], 1), 4),
        "expected_missing_positives_in_pool": pool_block["expected_missing_positives"],
        "mining": mining,
        "model_based": {k: summary[k] for k in ("estimated_fn_rate", "ci_low", "ci_high")}
        | {"mining": {k: summary["mining"][k] for k in ("estimated_fn_rate", "ci_low", "ci_high")},
           "assumption": summary["assumption"]},
        "file": block["file"],
        "estimator": "difference estimator under the stratified one-per-block design (trueneg.pu.verify)",
    }  # fmt: skip
    return rows


def check_sample_target(path: Path) -> None:
    """Refuse to replace a ``verify.jsonl`` that already holds judgments (a person's work)."""
    if not path.is_file():
        return
    try:
        judged = read_judgments(path).judged
    except DataError:
        judged = 0
    if judged:
        raise ValueError(
            f"{path}: holds {judged} judgments; a new sample would replace them: move the file, or audit into "
            "another --output-dir"
        )
