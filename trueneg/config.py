"""The base of trueneg's settings objects: frozen dataclasses checked against one table per class.

A settings class (:class:`~trueneg.mining.MiningConfig`, :class:`~trueneg.mining.ScaleConfig`,
:class:`~trueneg.audit.AuditConfig`, :class:`~trueneg.training.TrainConfig`) declares its fields
with ``Literal`` types and defaults, ``CHOICES`` (the allowed values of each string field) and
``NUMERIC`` (the domain of each numeric field, ``None`` always allowed). Construction validates
every field and names the parameter, never a CLI flag. Functions take ``config`` plus the same
names as keywords, which override it (:meth:`Config.build`); the CLI reads its defaults from
``Class()``, so each default is written once.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo(Config):
    ...     CHOICES: ClassVar[dict] = {"mode": ("a", "b")}
    ...     NUMERIC: ClassVar[dict] = {"size": {"low": 1, "integer": True}}
    ...     mode: str = "a"
    ...     size: int = 2
    >>> Demo.build(size=3).to_dict()
    {'mode': 'a', 'size': 3}
    >>> Demo(mode="c")
    Traceback (most recent call last):
    ...
    ValueError: mode must be one of a, b; got 'c'
    >>> Demo.build(sise=3)
    Traceback (most recent call last):
    ...
    TypeError: unknown Demo option(s) sise; the options are mode, size
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

from trueneg.validation import check_one_of, check_range

C = TypeVar("C", bound="Config")


class Config:
    """Validation, ``replace``, ``to_dict`` and keyword merging shared by the settings dataclasses."""

    CHOICES: ClassVar[dict[str, tuple[Any, ...]]] = {}
    NUMERIC: ClassVar[dict[str, dict[str, Any]]] = {}
    WHAT: ClassVar[str] = ""  # how errors name the options ("mining"); default the class name

    def __post_init__(self) -> None:
        for name, allowed in self.CHOICES.items():
            check_one_of(name, getattr(self, name), allowed)
        for name, domain in self.NUMERIC.items():
            check_range(name, getattr(self, name), **domain)
        self.check()

    def check(self) -> None:
        """Checks across fields (a subclass overrides it); raise ``ValueError`` naming the fields."""

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def build(cls: type[C], config: C | None = None, **options: Any) -> C:
        """``config`` (default ``cls()``) with ``options`` applied; an unknown name is a ``TypeError``."""
        unknown = sorted(set(options) - cls.field_names())
        if unknown:
            raise TypeError(
                f"unknown {cls.WHAT or cls.__name__} option(s) {', '.join(unknown)}; "
                f"the options are {', '.join(sorted(cls.field_names()))}"
            )
        if config is not None and not isinstance(config, cls):
            raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}")
        return dataclasses.replace(config or cls(), **options)

    @classmethod
    def take(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Remove and return the entries of ``options`` that are fields of this class."""
        return {name: options.pop(name) for name in list(options) if name in cls.field_names()}

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (validated again)."""
        return type(self).build(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]
