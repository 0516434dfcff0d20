"""Matrix factorisation for implicit feedback, trained with BPR (any sampler) or Rel-MF, on CPU.

- ``loss="bpr"`` (Rendle et al., 2009): ``-log σ(x_ui - x_uj)`` for every training pair (u, i) and
  ``num_negatives`` negatives j from a sampler of :mod:`trueneg.recommendation.samplers`.
- ``loss="relmf"`` (Saito et al., 2020, unbiased pointwise loss): every (user, item) cell, with
  the clipped inverse-propensity weights of Rel-MF, ``Y/θ_i (1 - p)^2 + (1 - Y/θ_i) p^2`` where
  ``p = σ(x_ui)`` and ``θ_i = max((n_i / max n) ** propensity_power, propensity_clip)``: a
  popularity-based exposure propensity (an unlabeled popular item was probably seen and skipped).
  The squared form is the one Rel-MF trains with; it stays bounded when ``1 - Y/θ < 0``.

Scores are ``x_ui = p_u · q_i + b_i``. Training is seeded and bit-reproducible on CPU.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from trueneg.io import atomic_path, check_output_path
from trueneg.recommendation.data import Interactions
from trueneg.recommendation.samplers import NegativeSampler, make_sampler
from trueneg.validation import check_one_of

LOSSES = ("bpr", "relmf")


class _Factors(nn.Module):
    def __init__(self, n_users: int, n_items: int, factors: int, generator: torch.Generator) -> None:
        super().__init__()
        self.user = nn.Parameter(torch.randn(n_users, factors, generator=generator) * 0.1)
        self.item = nn.Parameter(torch.randn(n_items, factors, generator=generator) * 0.1)
        self.bias = nn.Parameter(torch.zeros(n_items))

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.user[users] @ self.item.T + self.bias


class MatrixFactorization(BaseEstimator):
    """Matrix factorisation trained with BPR + a negative sampler, or with Rel-MF's unbiased loss.

    Args:
        loss: ``"bpr"`` or ``"relmf"``.
        sampler: BPR's negative sampler: a name of :data:`~trueneg.recommendation.samplers.SAMPLERS`
            or a sampler instance; ``sampler_kwargs`` are its parameters.
        factors / epochs / lr / reg / batch_size: model size and Adam schedule; ``reg`` is the L2
            penalty on the factors used in a step.
        num_negatives: BPR negatives per training pair.
        propensity_power / propensity_clip: Rel-MF's propensity ``θ_i`` (see module docstring).

    Example:
        >>> split = leave_last_out(load_interactions("../shared/data/ml-100k"))  # doctest: +SKIP
        >>> mf = MatrixFactorization(sampler="fn-aware").fit(split.train)  # doctest: +SKIP
        >>> evaluate_topk(mf.predict_scores(), split.train, split.test)  # doctest: +SKIP
    """

    def __init__(
        self,
        loss: str = "bpr",
        sampler: str | NegativeSampler = "uniform",
        sampler_kwargs: dict[str, Any] | None = None,
        factors: int = 64,
        epochs: int = 30,
        lr: float = 5e-3,
        reg: float = 1e-4,
        batch_size: int = 1024,
        num_negatives: int = 1,
        propensity_power: float = 0.5,
        propensity_clip: float = 0.1,
        seed: int = 0,
        show_progress: bool = False,
    ) -> None:
        self.loss = loss
        self.sampler = sampler
        self.sampler_kwargs = sampler_kwargs
        self.factors = factors
        self.epochs = epochs
        self.lr = lr
        self.reg = reg
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.propensity_power = propensity_power
        self.propensity_clip = propensity_clip
        self.seed = seed
        self.show_progress = show_progress

    def fit(self, train: Interactions) -> MatrixFactorization:
        """Train on the interactions of ``train``; ``history_`` holds the mean loss of every epoch."""
        check_one_of("loss", self.loss, LOSSES)
        if self.epochs < 1 or self.factors < 1 or self.batch_size < 1 or self.num_negatives < 1:
            raise ValueError("epochs, factors, batch_size and num_negatives must be at least 1")
        if len(train) == 0:
            raise ValueError("no training interactions")
        start = time.perf_counter()
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        self.model_ = _Factors(train.n_users, train.n_items, self.factors, generator)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        rng = np.random.default_rng(self.seed)
        if self.loss == "bpr":
            self.sampler_ = make_sampler(self.sampler, **(self.sampler_kwargs or {})).fit(train)
            step = self._bpr_epoch
        else:
            self.sampler_ = None
            pop = train.item_popularity().astype(np.float32)
            theta = torch.from_numpy(np.maximum((pop / pop.max()) ** self.propensity_power, self.propensity_clip))
            labeled = np.zeros((train.n_users, train.n_items), dtype=np.float32)
            labeled[train.users, train.items] = 1.0
            step = partial(self._relmf_epoch, weights=torch.from_numpy(labeled) / theta)
        self.history_ = []
        threads = torch.get_num_threads()
        # small batched products: with a thread per core a busy 2-core machine spends its time
        # switching threads (measured 286 s instead of 14-25 s for `recommend train`); one thread here
        torch.set_num_threads(1)
        try:
            with threadpool_limits(limits=1):
                for _ in tqdm(range(self.epochs), desc=f"MF {self.loss}", disable=not self.show_progress):
                    self.model_.train()
                    self.history_.append(step(train, optimizer, rng))
        finally:
            torch.set_num_threads(threads)
        self.model_.eval()
        self.fit_seconds_ = round(time.perf_counter() - start, 2)
        return self

    def score_tensor(self, users: np.ndarray) -> torch.Tensor:
        """Scores of ``users`` as a detached tensor: what score-ranked samplers refresh from."""
        return self.model_(torch.as_tensor(users)).detach()

    def _bpr_epoch(self, train: Interactions, optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> float:
        order = rng.permutation(len(train))
        total = 0.0
        self.sampler_.refresh(self.score_tensor)
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            users, items = train.users[batch], train.items[batch]
            negatives = self.sampler_.sample(users, items, rng, self.num_negatives)
            # F.embedding: its CPU backward sums repeated rows in a fixed order (plain indexing does not)
            i, j = torch.as_tensor(items), torch.as_tensor(negatives)
            p_u = F.embedding(torch.as_tensor(users), self.model_.user)
            q_i, q_j = F.embedding(i, self.model_.item), F.embedding(j, self.model_.item)
            bias = self.model_.bias[:, None]
            x_ui = (p_u * q_i).sum(1) + F.embedding(i, bias)[:, 0]
            x_uj = (p_u[:, None, :] * q_j).sum(2) + F.embedding(j, bias)[..., 0]
            loss = -F.logsigmoid(x_ui[:, None] - x_uj).mean()
            penalty = p_u.pow(2).sum(1).mean() + q_i.pow(2).sum(1).mean() + q_j.pow(2).sum(2).mean()
            optimizer.zero_grad()
            (loss + self.reg * penalty).backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        return total / len(order)

    def _relmf_epoch(
        self, train: Interactions, optimizer: torch.optim.Optimizer, rng: np.random.Generator, weights: torch.Tensor
    ) -> float:
        """One pass over all users; ``weights`` = ``Y / θ`` for every (user, item) cell."""
        rows = max(1, self.batch_size // 8)  # users per step: each brings a full row of items
        order = rng.permutation(train.n_users)
        total = 0.0
        for begin in range(0, len(order), rows):
            users = torch.as_tensor(order[begin : begin + rows])
            p = torch.sigmoid(self.model_(users))
            w = weights[users]
            loss = (w * (1 - p).pow(2) + (1 - w) * p.pow(2)).mean()
            penalty = self.model_.user[users].pow(2).sum(1).mean() + self.model_.item.pow(2).sum(1).mean()
            optimizer.zero_grad()
            (loss + self.reg * penalty).backward()
            optimizer.step()
            total += float(loss.detach()) * len(users)
        return total / len(order)

    def predict_scores(self, users: np.ndarray | None = None) -> np.ndarray:
        """Scores ``(len(users), n_items)`` (all users by default); higher means more likely relevant."""
        check_is_fitted(self, "model_")
        if users is None:
            users = np.arange(self.model_.user.shape[0])
        with torch.no_grad():
            return self.model_(torch.as_tensor(np.asarray(users))).numpy()

    def score(self, users: np.ndarray | None = None) -> np.ndarray:
        """Deprecated name of :meth:`predict_scores` (scikit-learn's ``score`` is a scalar metric)."""
        warnings.warn(
            "MatrixFactorization.score() is deprecated: use predict_scores()", DeprecationWarning, stacklevel=2
        )
        return self.predict_scores(users)


def check_factors_path(path: str | Path, inputs: Iterable[str | Path | None] = ()) -> None:
    """Raise ``ValueError`` unless ``path`` is a writable ``.npz`` file path and none of ``inputs`` (checked
    before any training)."""
    if Path(path).suffix != ".npz":
        raise ValueError(f"{path}: the factors file must end in .npz")
    check_output_path(path, inputs, "factors file")


def save_factors(path: str | Path, model: Any, data: Interactions) -> None:
    """Write the fitted factors (MF: and item biases) and the user/item ids to an ``.npz`` file, atomically.

    ``model`` is a fitted :class:`MatrixFactorization` or :class:`~trueneg.recommendation.als.FalseNegativeAwareALS`;
    a fitted :class:`~trueneg.recommendation.ease.EASE` has no factors and writes its item-item ``weights``.
    """
    check_factors_path(path)
    if hasattr(model, "weights_"):
        arrays = {"weights": model.weights_}
    elif hasattr(model, "model_"):
        arrays = {
            "user_factors": model.model_.user.detach().numpy(),
            "item_factors": model.model_.item.detach().numpy(),
            "item_bias": model.model_.bias.detach().numpy(),
        }
    else:
        arrays = {"user_factors": model.user_factors_, "item_factors": model.item_factors_}
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays, user_ids=data.user_ids.astype(str), item_ids=data.item_ids.astype(str))
