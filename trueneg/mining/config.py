"""The settings of one mining run as one validated, typed object.

:func:`~trueneg.mining.mine_negatives` takes a :class:`MiningConfig` (or the same names as keywords,
which override it); the CLI takes its defaults from ``MiningConfig()``, so a default lives in one
place. Objects that are not settings (the model, a teacher, judges, a candidate pool) stay
arguments of the function.

Example:
    >>> config = MiningConfig(num_negatives=4, max_fn_rate=0.05, fn_action="relabel")
    >>> config.window
    (0, 40)
    >>> config.replace(num_negatives=2).window
    (0, 20)
    >>> MiningConfig(perc_pos=1.5)
    Traceback (most recent call last):
    ...
    ValueError: perc_pos must be in (0, 1], got 1.5
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

from trueneg.candidates.index import INDEX_TYPES
from trueneg.candidates.pool import RETRIEVERS
from trueneg.config import Config
from trueneg.mining.sampling import SAMPLING
from trueneg.mining.teacher import TEACHER_TYPES

FnAction = Literal["drop", "relabel", "drop-query"]
FN_ACTIONS = get_args(FnAction)

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class MiningConfig(Config):
    """Every setting of :func:`~trueneg.mining.mine_negatives`; see its docstring for what each does.

    Validated on construction: an error names the parameter and its allowed values. How texts are
    encoded (model, backend, prompts, batch size) belongs to the :class:`~trueneg.candidates.Encoder`
    passed as ``model``, not to this object.
    """

    WHAT: ClassVar[str] = "mining"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "retriever": RETRIEVERS,
        "sampling": SAMPLING,
        "teacher_type": TEACHER_TYPES,
        "fn_action": FN_ACTIONS,
    }
    NUMERIC: ClassVar[dict[str, dict[str, Any]]] = {
        "num_negatives": {"low": 1, "integer": True},
        "range_min": {"low": 0, "integer": True},
        "max_score": {},
        "margin": {},
        "min_score": {},
        "perc_pos": {"low": 0.0, "high": 1.0, "low_open": True},
        "near_duplicate": {"low": 0.0, "high": 1.0, "low_open": True},
        "simans_a": {"low": 0.0, "low_open": True},
        "simans_b": {},
        "max_fn_rate": {"low": 0.0, "high": 1.0},
        "relabel_probability": {"low": 0.0, "high": 1.0},
        "max_inferred": {"low": 1, "integer": True},
        "relabel_precision": {"low": 0.0, "high": 1.0, "low_open": True},
        "drop_query_count": {"low": 1, "integer": True},
        "judge_budget": {"low": 1, "integer": True},
    }

    num_negatives: int = 10
    retriever: Literal["dense", "sparse", "hybrid"] = "dense"
    sampling: Literal["top", "random", "simans"] = "top"
    range_min: int = 0
    range_max: int | None = None
    max_score: float | None = None
    margin: float | None = None
    perc_pos: float | None = 0.95
    min_score: float | None = None
    near_duplicate: float | None = 0.9
    simans_a: float = 50.0
    simans_b: float = -0.05
    teacher_type: Literal["auto", "bi-encoder", "cross-encoder"] = "auto"
    max_fn_rate: float | None = None
    estimate_fn: bool = False
    fn_estimator: str = "roc"
    fn_action: FnAction = "drop"
    relabel_probability: float = 0.5
    max_inferred: int = 5
    relabel_precision: float = 0.8
    drop_query_count: int = 3
    judge_budget: int | None = None
    seed: int = 0

    def check(self) -> None:
        if self.range_max is not None and self.range_max <= self.range_min:
            raise ValueError(
                f"need 0 <= range_min < range_max, got range_min={self.range_min}, range_max={self.range_max}"
            )

    @property
    def window(self) -> tuple[int, int]:
        """``(range_min, range_max)`` with the default ``range_max = range_min + 10 * num_negatives``."""
        top = self.range_min + 10 * self.num_negatives if self.range_max is None else self.range_max
        return self.range_min, top

    @property
    def detects(self) -> bool:
        """Whether the false-negative detector runs (``max_fn_rate``, ``estimate_fn`` or an action)."""
        return self.max_fn_rate is not None or self.estimate_fn or self.fn_action != "drop"


@dataclass(frozen=True)
class ScaleConfig(Config):
    """How the scale path (:func:`~trueneg.mining.mine_to_file`, :func:`~trueneg.audit.audit_at_scale`) runs.

    Args:
        index: ``"auto"`` (by corpus size and memory), ``"exact"``, ``"ivf"``, ``"ivfpq"`` or ``"hnsw"``.
        max_memory: budget for the index and one chunk of queries (``"4GiB"``, bytes, ...).
        target_recall: recall@10 against exact search the approximate index is tuned to reach.
        recall_sample: sample queries for tuning (half) and the reported recall (other half).
        fn_sample: queries the false-negative model and the ``max_fn_rate`` cutoff are fit on.
        chunk_queries: queries per chunk; default from ``max_memory`` (at most 8192).
        engine: ``"local"`` (this process) or ``"ray"`` (Ray Data; ``pip install 'trueneg[ray]'``).
        ray_workers: concurrent Ray workers; default one per CPU Ray sees.

    Example:
        >>> ScaleConfig(index="ivf", max_memory="2GiB").engine
        'local'
    """

    WHAT: ClassVar[str] = "scale"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"index": INDEX_TYPES, "engine": ENGINES}
    NUMERIC: ClassVar[dict[str, dict[str, Any]]] = {
        "target_recall": {"low": 0.0, "high": 1.0, "low_open": True},
        "recall_sample": {"low": 2, "integer": True},
        "fn_sample": {"low": 1, "integer": True},
        "chunk_queries": {"low": 1, "integer": True},
        "ray_workers": {"low": 1, "integer": True},
    }

    index: Literal["auto", "exact", "ivf", "ivfpq", "hnsw"] = "auto"
    max_memory: str | int = "4GiB"
    target_recall: float = 0.95
    recall_sample: int = 1000
    fn_sample: int = 2000
    chunk_queries: int | None = None
    engine: Literal["local", "ray"] = "local"
    ray_workers: int | None = None
