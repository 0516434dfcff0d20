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

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from trueneg.candidates.encoders import BACKENDS
from trueneg.candidates.pool import RETRIEVERS
from trueneg.mining.sampling import SAMPLING
from trueneg.mining.teacher import TEACHER_TYPES
from trueneg.validation import check_one_of, check_range

FnAction = Literal["drop", "relabel", "drop-query"]
FN_ACTIONS = get_args(FnAction)

CHOICES: dict[str, tuple[str, ...]] = {  # the string options and their values, checked in one place
    "retriever": RETRIEVERS,
    "backend": BACKENDS,
    "sampling": SAMPLING,
    "teacher_type": TEACHER_TYPES,
    "fn_action": FN_ACTIONS,
}
NUMERIC: dict[str, dict[str, Any]] = {  # the domain of each numeric option (None = disabled is always allowed)
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
    "drop_query_count": {"low": 1, "integer": True},
    "judge_budget": {"low": 1, "integer": True},
    "batch_size": {"low": 1, "integer": True},
}


@dataclass(frozen=True)
class MiningConfig:
    """Every setting of :func:`~trueneg.mining.mine_negatives`; see its docstring for what each does.

    Validated on construction: an error names the parameter and its allowed values.
    """

    num_negatives: int = 10
    retriever: Literal["dense", "sparse", "hybrid"] = "dense"
    backend: Literal["torch", "onnx-int8"] = "torch"
    query_prompt: str | None = None
    document_prompt: str | None = None
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
    drop_query_count: int = 3
    judge_budget: int | None = None
    seed: int = 0
    batch_size: int = 32

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            check_one_of(name, getattr(self, name), allowed)
        for name, domain in NUMERIC.items():
            check_range(name, getattr(self, name), **domain)
        if self.range_max is not None and self.range_max <= self.range_min:
            raise ValueError(
                f"need 0 <= range_min < range_max, got range_min={self.range_min}, range_max={self.range_max}"
            )

    @property
    def window(self) -> tuple[int, int]:
        """``(range_min, range_max)`` with the default ``range_max = range_min + 10 * num_negatives``."""
        top = self.range_min + 10 * self.num_negatives if self.range_max is None else self.range_max
        return self.range_min, top

    def replace(self, **changes: Any) -> MiningConfig:
        """A copy with ``changes`` applied (validated again)."""
        return build_config(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELDS = frozenset(f.name for f in dataclasses.fields(MiningConfig))


def build_config(config: MiningConfig | None = None, **options: Any) -> MiningConfig:
    """``config`` (default ``MiningConfig()``) with ``options`` applied; an unknown name is a ``TypeError``."""
    unknown = sorted(set(options) - FIELDS)
    if unknown:
        raise TypeError(f"unknown mining option(s) {', '.join(unknown)}; the options are {', '.join(sorted(FIELDS))}")
    return dataclasses.replace(config or MiningConfig(), **options)
