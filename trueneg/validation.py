"""Parameter checks shared by every stage: one wording, errors that name the parameter.

Example:
    >>> check_range("near_duplicate", 0.9, low=0.0, high=1.0, low_open=True)
    >>> check_range("near_duplicate", 2.0, low=0.0, high=1.0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: near_duplicate must be in (0, 1], got 2.0
"""

from __future__ import annotations

import math
from typing import Any


class ArgumentError(ValueError):
    """A bad input array or file content; ``argument`` names which input (``"labels"``, ``"pred_probs"``, ...).

    A command line maps ``argument`` to the file it read, so the message names the right file.
    """

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument
        self.detail = message


def _fmt(value: float) -> str:
    return f"{value:g}"


def check_range(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    """Raise ``ValueError`` unless ``value`` is None or a finite number in the interval (an int if ``integer``)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    interval = f"{left}{_fmt(low) if low is not None else '-inf'}, {_fmt(high) if high is not None else 'inf'}{right}"
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name} must be a finite number in {interval}, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        if integer and high is None and not low_open and low is not None:
            raise ValueError(f"{name} must be at least {_fmt(low)}, got {value}")
        raise ValueError(f"{name} must be in {interval}, got {value}")


def check_one_of(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def require_extra(modules: str | tuple[str, ...], extra: str, what: str) -> None:
    """Raise ``ImportError`` naming the extra to install when a module of ``modules`` is missing (before any work).

    The one check of every optional dependency, so each says ``pip install 'trueneg[EXTRA]'`` the same way.

    Example:
        >>> require_extra("json", "hf", "reading")  # present: returns
        >>> require_extra("no_such_module_xyz", "hf", "reading")
        Traceback (most recent call last):
        ...
        ImportError: reading needs the 'hf' extra: pip install 'trueneg[hf]' (no module 'no_such_module_xyz')
    """
    import importlib.util

    for module in (modules,) if isinstance(modules, str) else modules:
        if importlib.util.find_spec(module) is None:
            missing = f"no module {module!r}"
            raise ImportError(f"{what} needs the '{extra}' extra: pip install 'trueneg[{extra}]' ({missing})")
