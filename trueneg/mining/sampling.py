"""Choose ``n`` negatives per query among the eligible candidates, so that hardness is a choice.

- ``"top"``: the ``n`` eligible candidates that come first in hardness order.
- ``"random"``: ``n`` eligible candidates uniformly at random.
- ``"simans"``: SimANS (Zhou et al., 2022): sample without replacement with
  ``p ∝ exp(-a * (s_neg - s_pos - b) ** 2)``, which favours negatives scoring near the positive
  (shifted by ``b``) over both the very top, where false negatives sit, and the easy tail.

Combined with a rank window (``range_min``/``range_max`` in :func:`trueneg.mine`), "top" with
``range_min > 0`` gives runner-up negatives. Sampling without replacement uses the Gumbel-top-k
trick (plain uniform keys for ``"random"``), vectorized over all
queries at once, with a partial sort: only the ``n`` best keys of a row are ordered.

The random keys are a counter-based hash of ``(seed, query, candidate)`` rather than a draw from one
generator over the whole matrix: a query gets the same negatives whether it is mined alone, in a
chunk of a streamed run, on a Ray worker or with all queries at once, and a candidate keeps its key
when an approximate index returns it at another rank.
"""

from __future__ import annotations

import numpy as np

from trueneg.hashing import uniform_keys
from trueneg.validation import check_one_of

SAMPLING = ("top", "random", "simans")
__all__ = ["SAMPLING", "sample_negatives", "uniform_keys"]


def sample_negatives(
    eligible: np.ndarray,
    scores: np.ndarray,
    anchor: np.ndarray,
    n: int,
    strategy: str = "top",
    simans_a: float = 50.0,
    simans_b: float = -0.05,
    seed: int = 0,
    rows: np.ndarray | None = None,
    items: np.ndarray | None = None,
) -> np.ndarray:
    """Column positions of the chosen candidates, ``(Q, n)``, -1 where a query has too few.

    ``eligible`` and ``scores`` are ``(Q, K)`` with columns in hardness order (hardest first);
    chosen columns are returned in that order. ``rows`` (``(Q,)``, default ``0..Q-1``) and ``items``
    (``(Q, K)``, default the column numbers) identify each query and candidate for the random keys;
    pass global query numbers and document ids to make the draw independent of how queries are batched.

    Example:
        >>> import numpy as np
        >>> ok = np.array([[False, True, True, True]])
        >>> sample_negatives(ok, np.zeros((1, 4)), np.zeros(1), n=2).tolist()
        [[1, 2]]
    """
    check_one_of("sampling", strategy, SAMPLING)
    if n < 1:
        raise ValueError(f"num_negatives must be at least 1, got {n}")
    q, k = eligible.shape
    if strategy == "top":
        keys = np.broadcast_to(-np.arange(k, dtype=np.float64), (q, k)).copy()
    else:
        rows = np.arange(q) if rows is None else np.asarray(rows)
        items = np.broadcast_to(np.arange(k), (q, k)) if items is None else np.asarray(items)
        uniform = uniform_keys(seed, rows[:, None], items)
        if strategy == "random":  # equal weights: any i.i.d. keys give a uniform random subset
            keys = uniform
        else:
            keys = -simans_a * (scores - anchor[:, None] - simans_b) ** 2 - np.log(-np.log(uniform))
    keys = np.where(eligible, keys, -np.inf)
    if n < k:  # only the n best keys are needed: partition first, then order those n
        part = np.argpartition(-keys, n - 1, axis=1)[:, :n]
        top = np.take_along_axis(part, np.argsort(-np.take_along_axis(keys, part, axis=1), axis=1, kind="stable"), 1)
    else:
        top = np.argsort(-keys, axis=1, kind="stable")
    chosen = np.take_along_axis(eligible, top, axis=1)
    top = np.sort(np.where(chosen, top, k), axis=1)
    top[top == k] = -1
    if top.shape[1] < n:
        top = np.concatenate([top, np.full((q, n - top.shape[1]), -1, dtype=top.dtype)], axis=1)
    return top
