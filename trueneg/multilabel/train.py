"""A small trainer for feature tables, so the missing-label losses can be compared on real data,
and missing-label detection on top of it."""

from __future__ import annotations

import inspect
import os
import pickle
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from torch import nn

from trueneg import signals
from trueneg.io import RecordsResult, atomic_path
from trueneg.multilabel.losses import LOSSES
from trueneg.pu import ROCTail
from trueneg.validation import check_one_of


def _check_xy(X: np.ndarray, Y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise ValueError(f"X must be a finite (n_samples, n_features) array, got shape {X.shape}")
    if Y is None:
        return X, None
    Y = np.asarray(Y)
    if Y.shape[0] != X.shape[0] or Y.ndim != 2:
        raise ValueError(f"Y must be (n_samples={X.shape[0]}, n_labels), got shape {Y.shape}")
    if not np.isin(Y, (0, 1)).all():
        raise ValueError("Y must hold 0 (not annotated) and 1 (annotated positive) only")
    return X, Y.astype(np.float32)


def estimate_label_priors(X: np.ndarray, observed: np.ndarray, seed: int = 0) -> np.ndarray:
    """Class prior ``P(y_j = 1)`` of every label with :class:`~trueneg.pu.ROCTail` on the standardized features.

    Standardizing first lets the logistic regression behind the estimate converge (unstandardized
    MULAN features gave convergence warnings and a 13x slower fit). Labels with fewer than 2
    annotated positives fall back to their observed frequency.
    """
    X, observed = _check_xy(X, observed)
    X = StandardScaler().fit_transform(X)
    priors = observed.mean(0).astype(float)
    for j in range(observed.shape[1]):
        s = observed[:, j].astype(bool)
        if 2 <= s.sum() <= len(s) - 2:
            priors[j] = ROCTail(n_bootstrap=0, seed=seed).fit(X, s).prior_
    return priors


Loss = Literal["auto", "bce", "wan", "asl", "em", "em-apl", "ll-r", "ll-ct", "role", "nnpu", "pu-mlc"]
Checkpoint = Callable[[int, Callable[[np.ndarray], np.ndarray]], None]
"""Called after epochs ``e`` (1-based) with a function that scores feature rows with the current network."""


def _network(n_in: int, n_out: int, hidden: int, dropout: float) -> nn.Sequential:
    if hidden == 0:
        return nn.Sequential(nn.Linear(n_in, n_out))
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_out))


def make_loss(name: str, X: np.ndarray, Y: np.ndarray, seed: int = 0, **kwargs: Any) -> nn.Module:
    """The loss ``name`` of :data:`~trueneg.multilabel.losses.LOSSES` for training on ``(X, Y)``.

    Fills what a loss needs from the data (:func:`loss_arguments`).
    """
    return LOSSES[name](**loss_arguments(name, X, Y, seed, kwargs))


def loss_arguments(name: str, X: np.ndarray, Y: np.ndarray, seed: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` and what loss ``name`` needs from the data: nnPU / PU-MLC ``priors``
    (:func:`estimate_label_priors`), ROLE's table size, the LL mode from the name."""
    check_one_of("loss", name, tuple(sorted(LOSSES)))
    kwargs = dict(kwargs)
    if name in ("nnpu", "pu-mlc") and "priors" not in kwargs:
        kwargs["priors"] = [round(float(p), 6) for p in estimate_label_priors(X, Y, seed)]
    if name in ("ll-r", "ll-ct"):
        kwargs.setdefault("mode", "reject" if name == "ll-r" else "correct")
    if name == "role":
        kwargs = {"n_rows": len(X), "n_labels": Y.shape[1], **kwargs}
    return kwargs


class MultiLabelMLP(BaseEstimator):
    """MLP (or linear model with ``hidden=0``) for multi-label feature tables with missing labels.

    Trained with any loss of :mod:`trueneg.multilabel.losses`, or with ``loss="auto"``: the loss and
    the number of epochs chosen on the training data itself (:func:`~trueneg.multilabel.select.select_loss`),
    then refitted on all of it; ``selection_`` holds the choice and every candidate's score.
    Features are standardized; training is seeded and on the CPU unless ``device`` says otherwise.

    Args:
        loss: a name of :data:`~trueneg.multilabel.losses.LOSSES` or ``"auto"``.
        loss_kwargs: extra arguments of the loss (not with ``"auto"``); nnPU priors default to
            :func:`estimate_label_priors`.
        hidden / epochs / lr / weight_decay / batch_size / dropout: the usual; with ``"auto"``,
            ``epochs`` is the most the selection tries.
        candidates: ``(loss, kwargs)`` pairs ``"auto"`` chooses among (default
            :data:`~trueneg.multilabel.select.CANDIDATES`; assume-negative BCE is always added).

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(64, 5)); Y = (X[:, :2] > 0).astype(int)
        >>> MultiLabelMLP(epochs=5).fit(X, Y).predict_proba(X).shape
        (64, 2)
    """

    def __init__(
        self,
        loss: Loss = "bce",
        loss_kwargs: dict[str, Any] | None = None,
        hidden: int = 256,
        epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        dropout: float = 0.2,
        seed: int = 0,
        device: str | None = None,
        candidates: Sequence[tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.loss = loss
        self.loss_kwargs = loss_kwargs
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.dropout = dropout
        self.seed = seed
        self.device = device
        self.candidates = candidates

    def fit(self, X: np.ndarray, Y: np.ndarray) -> MultiLabelMLP:
        """Train on features ``X`` and annotations ``Y`` (1 = annotated positive, 0 = not annotated)."""
        X, Y = _check_xy(X, Y)
        check_one_of("loss", self.loss, ("auto", *sorted(LOSSES)))
        if self.loss == "auto":
            from trueneg.multilabel.select import select_loss

            if self.loss_kwargs:
                raise ValueError("loss_kwargs cannot be given with loss='auto': pass candidates=[(loss, kwargs), ...]")
            self.selection_ = select_loss(self, X, Y)
            name, kwargs, epochs = self.selection_.loss, dict(self.selection_.loss_kwargs), self.selection_.epochs
        else:
            name, kwargs, epochs = self.loss, dict(self.loss_kwargs or {}), self.epochs
        self.train_network(X, Y, name, kwargs, epochs)
        return self

    def train_network(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        name: str,
        kwargs: dict[str, Any],
        epochs: int,
        checkpoint: Checkpoint | None = None,
        every: int = 1,
    ) -> MultiLabelMLP:
        """Train the network with loss ``name`` for ``epochs``; ``checkpoint`` sees it every ``every`` epochs."""
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.mean_, self.std_ = X.mean(0), X.std(0) + 1e-6
        kwargs = loss_arguments(name, X, Y, self.seed, kwargs)
        criterion = LOSSES[name](**kwargs).to(device)
        self.loss_ = name
        self.loss_kwargs_ = {k: v for k, v in kwargs.items() if k not in ("n_rows", "n_labels")}
        self.epochs_ = epochs
        self.model_ = _network(X.shape[1], Y.shape[1], self.hidden, self.dropout).to(device)
        groups = [{"params": self.model_.parameters(), "weight_decay": self.weight_decay}]
        if list(criterion.parameters()):
            groups.append({"params": criterion.parameters(), "weight_decay": 0.0, "lr": criterion.lr})
        optimizer = torch.optim.AdamW(groups, lr=self.lr)
        xs = torch.from_numpy((X - self.mean_) / self.std_).to(device)
        ys = torch.from_numpy(Y).to(device)
        takes_index = "index" in inspect.signature(criterion.forward).parameters
        for epoch in range(epochs):
            signals.check()
            if hasattr(criterion, "begin_epoch"):
                criterion.begin_epoch(epoch, lambda: (self._scores(xs), ys))
            self.model_.train()
            order = torch.randperm(len(xs), generator=generator).to(device)
            for start in range(0, len(xs), self.batch_size):
                batch = order[start : start + self.batch_size]
                optimizer.zero_grad()
                logits = self.model_(xs[batch])
                loss = criterion(logits, ys[batch], index=batch) if takes_index else criterion(logits, ys[batch])
                loss.backward()
                optimizer.step()
            self.model_.eval()
            if checkpoint is not None and (epoch + 1) % every == 0:
                checkpoint(epoch + 1, self.predict_proba)
        return self

    def _scores(self, xs: torch.Tensor) -> torch.Tensor:
        self.model_.eval()
        with torch.no_grad():
            probs = torch.sigmoid(self.model_(xs))
        self.model_.train()
        return probs

    def save(self, path: str | os.PathLike, label_names: Sequence[str] | None = None) -> Path:
        """Write the fitted model to ``path`` (a torch file), atomically; :meth:`load` reads it back."""
        check_is_fitted(self, "model_")
        state = {
            "format": "trueneg.multilabel.MultiLabelMLP/1",
            "params": {k: v for k, v in self.get_params().items() if k != "candidates"},
            "fitted": {"loss": self.loss_, "loss_kwargs": self.loss_kwargs_, "epochs": self.epochs_},
            "mean": torch.from_numpy(self.mean_),
            "std": torch.from_numpy(self.std_),
            "shape": [int(self.model_[0].in_features), int(self.model_[-1].out_features)],
            "weights": {k: v.cpu() for k, v in self.model_.state_dict().items()},
            "label_names": list(label_names) if label_names is not None else None,
            "selection": self.selection_.summary if hasattr(self, "selection_") else None,
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MultiLabelMLP:
        """A model written by :meth:`save` (``label_names_`` holds the names it was saved with)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{path}: not a model written by MultiLabelMLP.save ({reason})") from None
        if not isinstance(state, dict) or state.get("format") != "trueneg.multilabel.MultiLabelMLP/1":
            raise ValueError(f"{path}: not a model written by MultiLabelMLP.save")
        model = cls(**state["params"])
        model.loss_, model.loss_kwargs_, model.epochs_ = (state["fitted"][k] for k in ("loss", "loss_kwargs", "epochs"))
        model.mean_, model.std_ = state["mean"].numpy(), state["std"].numpy()
        model.model_ = _network(*state["shape"], model.hidden, model.dropout)
        model.model_.load_state_dict(state["weights"])
        model.model_.eval()
        model.label_names_ = state["label_names"]
        return model

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Per-label probabilities ``(n_samples, n_labels)``."""
        check_is_fitted(self, "model_")
        X, _ = _check_xy(X)
        if X.shape[1] != len(self.mean_):
            raise ValueError(f"X has {X.shape[1]} features; the model was trained on {len(self.mean_)}")
        device = next(self.model_.parameters()).device
        with torch.no_grad():
            logits = self.model_(torch.from_numpy((X - self.mean_) / self.std_).to(device))
        return torch.sigmoid(logits).cpu().numpy()


@dataclass
class MissingLabels(RecordsResult):
    """Unannotated (sample, label) pairs ranked by the probability that the label applies.

    ``expected_missing`` is the estimated number of missing positives per label, and
    ``expected_missing_interval`` the ``confidence`` interval of their total.
    """

    samples: np.ndarray
    labels: np.ndarray
    probability: np.ndarray
    expected_missing: np.ndarray
    expected_missing_interval: tuple[float, float] = (float("nan"), float("nan"))
    confidence: float = 0.9
    label_names: list[str] | None = None

    def to_records(self, top: int | None = None) -> list[dict[str, Any]]:
        """``{"sample", "label", "probability"}`` per unannotated pair, likeliest first (the first ``top``).

        With ``label_names``, each record also has ``label_name``.
        """
        records: list[dict[str, Any]] = []
        for s, j, p in list(zip(self.samples, self.labels, self.probability))[:top]:
            record: dict[str, Any] = {"sample": int(s), "label": int(j), "probability": round(float(p), 6)}
            if self.label_names is not None:
                record["label_name"] = self.label_names[int(j)]
            records.append(record)
        return records

    def _summary(self) -> dict[str, object]:
        low, high = self.expected_missing_interval
        return {
            "expected_missing": [round(float(v), 3) for v in self.expected_missing],
            "expected_missing_total": round(float(self.expected_missing.sum()), 3),
            "expected_missing_interval": [round(low, 3), round(high, 3)],
            "confidence": self.confidence,
        }


def find_missing_labels(
    labels: np.ndarray | None = None,
    pred_probs: np.ndarray | None = None,
    seed: int = 0,
    *,
    probabilities: np.ndarray | None = None,
    observed: np.ndarray | None = None,
    confidence: float = 0.9,
    label_names: Sequence[str] | None = None,
    count_probs: np.ndarray | None = None,
) -> MissingLabels:
    """Rank unannotated pairs by predicted probability and estimate how many are missing per label.

    ``labels`` is the observed 0/1 annotation matrix ``(n_samples, n_labels)`` and ``pred_probs``
    the predicted probabilities of the same shape, in that order as everywhere in trueneg
    (``find_label_issues(labels, pred_probs)``). ``probabilities=`` / ``observed=`` and the old
    positional order ``(probabilities, observed)`` still work with a ``DeprecationWarning``.

    ``pred_probs`` should be out-of-sample (e.g. :func:`cross_val_probabilities`). The count per
    label is ``n_annotated * (1 - c) / c`` with one label frequency ``c`` for all labels, from
    :class:`~trueneg.pu.ROCTail` over every (sample, label) pair; its interval comes from ROCTail's
    bootstrap over those pairs. ``count_probs`` (default ``pred_probs``) are the probabilities the
    count is computed from, when another model ranks the pairs: ``trueneg multilabel find`` counts
    with a large-loss-rejection model (``"ll-r"``), whose probabilities keep unobserved positives
    scored like observed ones, as the ROCTail bound needs. A separate ``c`` per label was
    tried and dropped: on labels with few annotations it falls to its floor (the observed rate), and
    then every unannotated sample counts as missing (measured with half the positives hidden:
    4.2x the true count on yeast and 3.2x on scene with per-label TIcE, 2.7x and 2.0x with per-label
    ROCTail, 1.4x and 2.0x pooled).
    """
    if probabilities is not None or observed is not None:
        warnings.warn("find_missing_labels(probabilities=, observed=) is deprecated: pass (labels, pred_probs)",
                      DeprecationWarning, stacklevel=2)  # fmt: skip
        labels, pred_probs = observed if observed is not None else labels, probabilities
    if labels is None or pred_probs is None:
        raise TypeError("find_missing_labels needs labels and pred_probs")
    observed, probs = np.asarray(labels), np.asarray(pred_probs, dtype=np.float64)
    if probs.shape != observed.shape:
        raise ValueError(f"labels {observed.shape} and pred_probs {probs.shape} differ in shape")
    if not _binary(observed) and _binary(probs):  # the pre-0.3 order (probabilities, observed)
        warnings.warn("find_missing_labels(probabilities, observed) is deprecated: pass (labels, pred_probs)",
                      DeprecationWarning, stacklevel=2)  # fmt: skip
        observed, probs = probs.astype(np.int64), observed.astype(np.float64)
    if not _binary(observed):
        raise ValueError("labels must be the observed 0/1 annotation matrix")
    if label_names is not None and len(label_names) != observed.shape[1]:
        raise ValueError(f"{len(label_names)} label_names for {observed.shape[1]} labels")
    counted = probs if count_probs is None else np.asarray(count_probs, dtype=np.float64)
    if counted.shape != observed.shape:
        raise ValueError(f"labels {observed.shape} and count_probs {counted.shape} differ in shape")
    expected, interval = np.zeros(observed.shape[1]), (0.0, 0.0)
    s = observed.ravel().astype(bool)
    if 2 <= s.sum() <= len(s) - 2:
        estimator = ROCTail(n_bootstrap=200, confidence=confidence, seed=seed).fit(counted.ravel()[:, None], s)
        c, (c_low, c_high) = estimator.label_frequency_, estimator.label_frequency_ci_
        expected = observed.sum(axis=0) * (1 - c) / c
        total = observed.sum()
        interval = (float(total * (1 - c_high) / c_high), float(total * (1 - c_low) / c_low))
    samples, columns = np.nonzero(observed == 0)
    values = probs[samples, columns]
    order = np.argsort(-values, kind="stable")
    names = list(label_names) if label_names is not None else None
    return MissingLabels(samples[order], columns[order], values[order], expected, interval, confidence, names)


def cross_val_probabilities(model: MultiLabelMLP, X: np.ndarray, observed: np.ndarray, folds: int = 2) -> np.ndarray:
    """Out-of-fold probabilities of ``model`` for :func:`find_missing_labels` (one clone per fold, seeded split).

    With ``loss="auto"`` the loss is chosen once on all rows and every fold trains that loss for the
    chosen epochs (choosing again per fold would cost ``folds`` selections); the model is then left
    fitted on all rows, with its ``selection_``. Any other model is only cloned.
    """
    X, observed = _check_xy(X, observed)
    if folds < 2 or len(X) < folds:
        raise ValueError(f"folds must be at least 2 and at most the {len(X)} rows, got {folds}")
    if model.loss == "auto":
        model.fit(X, observed)
        name, kwargs, epochs = model.loss_, model.loss_kwargs_, model.epochs_
    else:
        name, kwargs, epochs = model.loss, dict(model.loss_kwargs or {}), model.epochs
    assignment = np.random.default_rng(model.seed).permutation(len(X)) % folds
    probs = np.zeros(observed.shape, dtype=np.float64)
    for fold in range(folds):
        train, test = assignment != fold, assignment == fold
        fitted = clone(model).train_network(X[train], observed[train], name, dict(kwargs), epochs)
        probs[test] = fitted.predict_proba(X[test])
    return probs


def _binary(values: np.ndarray) -> bool:
    return bool(np.isin(values, (0, 1)).all())
