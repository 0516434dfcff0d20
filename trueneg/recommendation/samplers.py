"""Negative samplers for implicit feedback: which unlabeled item to treat as a negative for (user, item).

All samplers are seeded through the generator passed to :meth:`sample`, never return an item the
user interacted with (property-tested), and share the mining vocabulary of :mod:`trueneg.mining`:

- ``"uniform"``: any unlabeled item, uniformly (BPR's original sampler).
- ``"popularity"``: unlabeled items with probability ∝ ``(popularity + 1) ** alpha``.
- ``"hard"``: rank the user's unlabeled items by the model's score (re-ranked at every epoch
  through :meth:`NegativeSampler.refresh`) and sample in the rank window
  ``[range_min, range_max)`` with ``sampling`` = ``"random"``, ``"top"`` or ``"simans"``
  (:func:`trueneg.mining.sampling.sample_negatives`, anchored on the positive's score): dynamic
  negative sampling with a window.
- ``"fn-aware"``: ``"hard"``, but candidates whose probability of being a missing positive
  (:mod:`trueneg.recommendation.missing`) exceeds ``max_probability`` are removed before
  ranking, so the window holds the hardest *clean* candidates and hardness is kept. In the
  spirit of NBPO (unlabeled is not negative for BPR) with SimANS-style ambiguous sampling.

A row with no eligible candidate in the window falls back to a uniform unlabeled item. Samplers
keep a dense ``(n_users, n_items)`` mask of the training interactions (and the hard ones the
model's scores): sized, like :mod:`~trueneg.recommendation.missing`, for logs such as MovieLens.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from trueneg.mining.sampling import sample_negatives
from trueneg.recommendation.data import Interactions
from trueneg.recommendation.missing import MissingPositiveModel, fit_missing_positives
from trueneg.validation import check_one_of, check_range

Scorer = Callable[[np.ndarray], torch.Tensor]


def _repeated(drawn: np.ndarray) -> np.ndarray:
    """Mask of the entries of each row that repeat an earlier entry of that row."""
    order = np.argsort(drawn, axis=1, kind="stable")
    ranked = np.take_along_axis(drawn, order, axis=1)
    again = np.zeros(drawn.shape, dtype=bool)
    again[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
    out = np.zeros(drawn.shape, dtype=bool)
    np.put_along_axis(out, order, again, axis=1)
    return out


class NegativeSampler(BaseEstimator):
    """Base class: :meth:`fit` on the training interactions, then :meth:`sample` negatives for pairs."""

    def fit(self, train: Interactions) -> NegativeSampler:
        self.n_items_ = train.n_items
        activity = np.bincount(train.users, minlength=train.n_users)
        full = np.flatnonzero(activity >= train.n_items)
        if len(full):
            raise ValueError(f"user {str(train.user_ids[full[0]])!r} interacted with every item; no negative exists")
        self.mask_ = np.zeros((train.n_users, train.n_items), dtype=bool)
        self.mask_[train.users, train.items] = True
        self.free_ = train.n_items - self.mask_.sum(axis=1)  # each user's items without an interaction
        return self

    def _draw(self, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.n_items_, size=size)

    def _reject(self, users: np.ndarray, drawn: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Redraw every drawn item the user interacted with, or already drawn in the same row, until none is left.

        A row's negatives are distinct (sampling without replacement) for every user with at least as many
        unlabeled items as negatives asked; a user with fewer gets repeats (``recommend_negatives`` refuses
        such a request instead).
        """
        distinct = (self.free_[users] >= drawn.shape[1])[:, None]
        users = np.broadcast_to(users[:, None], drawn.shape)
        bad = self.mask_[users, drawn] | (_repeated(drawn) & distinct)
        while bad.any():
            drawn[bad] = self._draw((int(bad.sum()),), rng)
            bad = self.mask_[users, drawn] | (_repeated(drawn) & distinct)
        return drawn

    def refresh(self, scorer: Scorer) -> None:
        """Take the current model's scores (``scorer(users) -> (B, n_items)``); a no-op for static samplers."""

    def sample(self, users: np.ndarray, items: np.ndarray, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``(len(users), n)`` negative items for the positive pairs ``(users, items)``."""
        return self._reject(np.asarray(users), self._draw((len(users), n), rng), rng)


class UniformSampler(NegativeSampler):
    """Uniform over the user's unlabeled items."""

    def __init__(self) -> None:
        pass


class PopularitySampler(NegativeSampler):
    """Unlabeled items with probability ∝ ``(popularity + 1) ** alpha``."""

    def __init__(self, alpha: float = 0.75) -> None:
        self.alpha = alpha

    def fit(self, train: Interactions) -> PopularitySampler:
        super().fit(train)
        weights = (train.item_popularity() + 1.0) ** self.alpha
        self.cdf_ = np.cumsum(weights / weights.sum())
        return self

    def _draw(self, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cdf_, rng.random(size)), self.n_items_ - 1)


class HardSampler(NegativeSampler):
    """Score-ranked negatives from the rank window ``[range_min, range_max)`` of the current model."""

    def __init__(
        self,
        range_min: int = 0,
        range_max: int = 200,
        sampling: str = "random",
        simans_a: float = 1.0,
        simans_b: float = 0.0,
    ) -> None:
        self.range_min = range_min
        self.range_max = range_max
        self.sampling = sampling
        self.simans_a = simans_a
        self.simans_b = simans_b

    def fit(self, train: Interactions) -> HardSampler:
        check_range("simans_a", self.simans_a, low=0.0, low_open=True)
        if not 0 <= self.range_min < self.range_max:
            raise ValueError(f"need 0 <= range_min < range_max, got {self.range_min} and {self.range_max}")
        super().fit(train)
        self.excluded_ = torch.from_numpy(self.mask_)  # items never ranked as candidates
        return self

    def refresh(self, scorer: Scorer, chunk: int = 1024) -> None:
        """Rank every user's candidates (labeled and excluded items removed) by ``scorer``, best first."""
        n_users = self.mask_.shape[0]
        k = min(self.range_max, self.n_items_)
        self.scores_ = np.empty(self.mask_.shape, dtype=np.float32)
        self.candidates_ = np.empty((n_users, k), dtype=np.int64)
        self.values_ = np.empty((n_users, k), dtype=np.float32)
        with torch.no_grad():
            for begin in range(0, n_users, chunk):
                rows = np.arange(begin, min(begin + chunk, n_users))
                scores = scorer(rows)
                self.scores_[rows] = scores.numpy()
                top = scores.masked_fill(self.excluded_[rows], -torch.inf).topk(k, dim=1)
                self.candidates_[rows], self.values_[rows] = top.indices.numpy(), top.values.numpy()

    def sample(self, users: np.ndarray, items: np.ndarray, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        if not hasattr(self, "candidates_"):
            raise ValueError(f"{type(self).__name__} needs the model's scores: call refresh(scorer) first")
        users, items = np.asarray(users), np.asarray(items)
        values, candidates = self.values_[users], self.candidates_[users]
        eligible = np.isfinite(values)
        eligible[:, : self.range_min] = False
        chosen = sample_negatives(
            eligible, values, self.scores_[users, items], n, self.sampling, self.simans_a, self.simans_b,
            int(rng.integers(2**31)),
        )  # fmt: skip
        out = np.where(chosen >= 0, np.take_along_axis(candidates, np.maximum(chosen, 0), axis=1), -1)
        missing = (out < 0) | (_repeated(out) & (self.free_[users] >= n)[:, None])
        if missing.any():  # short windows: the rest uniformly, distinct from what the window gave
            rows = np.flatnonzero(missing.any(axis=1))
            drawn = np.where(missing[rows], -1, out[rows])
            drawn[missing[rows]] = self._draw((int(missing[rows].sum()),), rng)
            out[rows] = self._reject(users[rows], drawn, rng)
        return out


class FalseNegativeAwareSampler(HardSampler):
    """Hard negatives minus likely missing positives (probability > ``max_probability``).

    The probabilities come from :func:`~trueneg.recommendation.missing.fit_missing_positives`,
    fit once on the training interactions (or ``missing_model``, already fit on them). Suspects
    are excluded before ranking, like labeled items, so the rank window counts clean candidates.
    """

    def __init__(
        self,
        range_min: int = 0,
        range_max: int = 200,
        sampling: str = "random",
        simans_a: float = 1.0,
        simans_b: float = 0.0,
        max_probability: float = 0.03,
        estimator: str = "tice",
        missing_model: MissingPositiveModel | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(range_min, range_max, sampling, simans_a, simans_b)
        self.max_probability = max_probability
        self.estimator = estimator
        self.missing_model = missing_model
        self.seed = seed

    def fit(self, train: Interactions) -> FalseNegativeAwareSampler:
        check_range("max_probability", self.max_probability, low=0.0, high=1.0)
        super().fit(train)
        self.missing_ = self.missing_model or fit_missing_positives(train, self.estimator, seed=self.seed)
        self.probability_ = self.missing_.probability_matrix()
        self.suspects_ = np.nan_to_num(self.probability_, nan=0.0) > self.max_probability
        self.excluded_ = torch.from_numpy(self.mask_ | self.suspects_)
        return self


SAMPLERS: dict[str, type[NegativeSampler]] = {
    "uniform": UniformSampler,
    "popularity": PopularitySampler,
    "hard": HardSampler,
    "fn-aware": FalseNegativeAwareSampler,
}


def sampler_options(name: str, **settings: Any) -> dict[str, Any]:
    """The entries of ``settings`` that the sampler ``name`` takes (one set of options serves every sampler).

    Example:
        >>> sampler_options("hard", range_max=100, max_probability=0.03)
        {'range_max': 100}
        >>> sampler_options("uniform", range_max=100)
        {}
    """
    check_one_of("sampler", name, SAMPLERS)
    accepted = inspect.signature(SAMPLERS[name]).parameters
    return {key: value for key, value in settings.items() if key in accepted}


def make_sampler(name: str | NegativeSampler, **kwargs) -> NegativeSampler:
    """A sampler by name (``uniform``, ``popularity``, ``hard``, ``fn-aware``) with its parameters."""
    if isinstance(name, NegativeSampler):
        return name
    check_one_of("sampler", name, SAMPLERS)
    return SAMPLERS[name](**kwargs)
