"""The settings of an audit as one validated object (see :class:`trueneg.config.Config`).

Example:
    >>> AuditConfig(depth=50, top_k=10).mining().num_negatives
    10
    >>> AuditConfig(depth=5, top_k=10)
    Traceback (most recent call last):
    ...
    ValueError: top_k must be in [1, 5], got 10
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from trueneg.candidates.pool import RETRIEVERS
from trueneg.config import Config
from trueneg.mining.config import MiningConfig
from trueneg.pu import ESTIMATORS
from trueneg.pu.verify import FRAME_DEPTH
from trueneg.validation import check_range


@dataclass(frozen=True)
class AuditConfig(Config):
    """Every setting of :func:`~trueneg.audit.audit` and :func:`~trueneg.audit.audit_at_scale`.

    Args:
        depth: candidates retrieved per query (the pool the estimate covers).
        top_k: the dataset false-negative rate is the expected share of missing positives among
            each query's ``top_k`` highest-ranked unlabeled candidates, i.e. what naive top-k
            mining would emit.
        estimator: label-frequency estimator: ``"roc"`` (default), ``"tice"``, ``"elkan-noto"`` or ``"km2"``.
        n_suspects: how many likely missing positives to list.
        num_negatives / perc_pos / max_fn_rate: the mining configuration whose emitted negatives'
            false-negative rate is also estimated (``summary["mining"]``).
        retriever: ``"dense"``, ``"sparse"`` or ``"hybrid"`` (the scale path: dense only).
        seed: seed of the estimate's folds, of the plots' subsample and of the verification sample.
        verify: draw this many unlabeled pool pairs for a person (or judge) to label
            (``verify.jsonl``, :mod:`trueneg.audit.verify`); 0 = none.
        level: the level of the verified intervals (with judgments).
    """

    WHAT: ClassVar[str] = "audit"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"estimator": tuple(ESTIMATORS), "retriever": RETRIEVERS}
    NUMERIC: ClassVar[dict[str, dict[str, Any]]] = {
        "depth": {"low": 1, "integer": True},
        "n_suspects": {"low": 0, "integer": True},
        "num_negatives": {"low": 1, "integer": True},
        "perc_pos": {"low": 0.0, "high": 1.0, "low_open": True},
        "max_fn_rate": {"low": 0.0, "high": 1.0},
        "verify": {"low": 0, "integer": True},
        "level": {"low": 0.0, "high": 1.0, "low_open": True, "high_open": True},
    }

    depth: int = FRAME_DEPTH
    top_k: int = 10
    estimator: Literal["roc", "tice", "elkan-noto", "km2"] = "roc"
    n_suspects: int = 100
    num_negatives: int = 10
    perc_pos: float | None = 0.95
    max_fn_rate: float | None = None
    retriever: Literal["dense", "sparse", "hybrid"] = "dense"
    seed: int = 0
    verify: int = 0
    level: float = 0.9

    def check(self) -> None:
        check_range("top_k", self.top_k, low=1, high=self.depth, integer=True)

    def mining(self) -> MiningConfig:
        """The mining configuration the audit assesses (its detector always runs)."""
        return MiningConfig(
            num_negatives=self.num_negatives, perc_pos=self.perc_pos, max_fn_rate=self.max_fn_rate,
            estimate_fn=True, fn_estimator=self.estimator, retriever=self.retriever, seed=self.seed,
        )  # fmt: skip
