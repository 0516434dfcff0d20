"""Choose what trueneg adds to a recommender on the user's own data, never by what won on our dev set.

A setting that helped on MovieLens-100K lowered NDCG by 3.7% on another MovieLens log, so nothing
that trueneg adds on top of a base model (relabeled missing positives and their count, the
fn-aware sampler) is on by default. ``"auto"`` carves a validation split from the *training*
interactions with the same protocol as the outer split (random or leave-last-out, seeded), fits
every candidate on the rest, and scores NDCG@k on the validation items.

The rule for additions (``guard=True``): "add nothing" is always the first candidate and is kept
unless another candidate's per-user paired NDCG gain has a lower confidence bound above zero; the
bounds are one-sided at level ``1 − 0.1 / m`` for ``m`` additions (Bonferroni), so noise alone
turns an addition on with probability at most 10%. Among those that clear it, the largest mean gain
wins. The
base model's own settings (EASE's ``l2``) are chosen by the plain best validation NDCG. The chosen
candidate is then refit on all the training interactions: a choice costs one fit per candidate plus
one, on the smaller inner split.

Example:
    >>> from trueneg.recommendation.data import Interactions
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pairs = np.unique(np.c_[rng.integers(0, 40, 600), rng.integers(0, 30, 600)], axis=0)
    >>> log = Interactions(pairs[:, 0], pairs[:, 1], None, None, np.arange(40).astype(str), np.arange(30).astype(str))
    >>> from trueneg.recommendation.ease import EASE
    >>> inner = validation_split(log, "random", 0.2, seed=0)
    >>> picked = choose(lambda **p: EASE(**p), [("l2 10", {"l2": 10.0}), ("l2 100", {"l2": 100.0})], inner, k=10)
    >>> picked.chosen in ("l2 10", "l2 100"), picked.fits
    (True, 2)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from trueneg.recommendation.data import SPLITS, Interactions, Split
from trueneg.recommendation.metrics import per_user_topk
from trueneg.validation import check_one_of

FAMILY_ERROR = 0.1  # the chance that noise alone turns one of the additions on


@dataclass
class Selection:
    """What a validation choice picked, and every candidate's validation NDCG and paired gain."""

    chosen: str
    params: dict[str, Any]
    fits: int
    seconds: float
    validation: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the chosen name, the fits it cost and the candidates' table."""
        return {"chosen": self.chosen, "fits": self.fits, "seconds": self.seconds, "candidates": self.validation}


def validation_split(train: Interactions, split: str, test_fraction: float, seed: int) -> Split:
    """A validation split of ``train`` with the outer split's protocol (its own seed), or a clear error."""
    check_one_of("split", split, SPLITS)
    carve = SPLITS[split]
    inner = carve(train, seed + 1) if split == "leave-last-out" else carve(train, test_fraction, seed + 1)
    if len(inner.test) == 0:
        raise ValueError(
            f"{train.source or 'the log'}: no user has 2 or more training interactions, so no validation split can "
            "be carved from the training data to choose the settings; give explicit settings (for example "
            "--fn-weighting off, --l2 500, --sampler uniform)"
        )
    return inner


def choose(
    make: Callable[..., Any],
    candidates: Sequence[tuple[str, dict[str, Any]]],
    inner: Split,
    k: int = 20,
    *,
    guard: bool = False,
    fit_options: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Selection:
    """Fit ``make(**params)`` for every candidate on ``inner.train``; pick by NDCG@k on ``inner.test``.

    ``guard``: the first candidate is "add nothing" and the others must beat it (module docstring).
    ``fit_options(params)``: extra keywords of ``fit`` (a shared precomputation).
    """
    start = time.perf_counter()
    per_user = []
    for _, params in candidates:
        model = make(**params).fit(inner.train, **(fit_options(params) if fit_options else {}))
        per_user.append(per_user_topk(model.predict_scores(), inner.train, inner.test, k)[f"ndcg@{k}"])
    base = per_user[0]
    z = float(norm.ppf(1 - FAMILY_ERROR / max(1, len(candidates) - 1)))
    table = []
    for (name, _), values in zip(candidates, per_user):
        diff = values - base
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        table.append({
            "name": name,
            f"ndcg@{k}": round(float(values.mean()), 5),
            "gain": round(float(diff.mean()), 5),
            "gain_low": round(float(diff.mean() - z * se), 5),
        })  # fmt: skip
    if guard:
        cleared = [i for i, row in enumerate(table) if i > 0 and row["gain_low"] > 0]
        best = max(cleared, key=lambda i: table[i]["gain"]) if cleared else 0
    else:
        best = int(np.argmax([values.mean() for values in per_user]))
    for i, row in enumerate(table):
        row["chosen"] = i == best
    name, params = candidates[best]
    return Selection(name, dict(params), len(candidates), round(time.perf_counter() - start, 3), table)
