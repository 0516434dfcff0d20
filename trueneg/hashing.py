"""Counter-based random numbers: a value per ``(seed, row, item)`` that does not depend on what else is drawn.

Sampling keys (:mod:`trueneg.mining.sampling`) and the detector's leave-one-out draws
(:mod:`trueneg.pu.evidence`) use them, so a query's draws are the same whether it is processed alone,
in a chunk of a streamed run, or with all other queries.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: a bijective avalanche of 64-bit integers (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniform_keys(seed: int, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1) that depend only on ``(seed, row, item)`` (broadcast together).

    Example:
        >>> a = uniform_keys(0, np.array([[3]]), np.array([[7, 8]]))
        >>> bool((a == uniform_keys(0, np.array([[3]]), np.array([[7, 8]]))).all()), a.shape
        (True, (1, 2))
    """
    with np.errstate(over="ignore"):
        h = _mix(np.uint64(seed % 2**64) * _GOLDEN + np.uint64(1))
        h = _mix(h ^ (np.asarray(rows).astype(np.uint64) * _GOLDEN))
        h = _mix(h ^ (np.asarray(items).astype(np.uint64) * _GOLDEN + np.uint64(0x632BE59BD9B4E019)))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
