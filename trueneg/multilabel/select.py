"""``loss="auto"``: the missing-label loss and its number of epochs chosen on the user's training data.

Unobserved labels cannot score a validation split (a good model ranks a missing positive high, which
an assume-negative score counts as an error), but the *observed* positives can: they are true
positives. So the training rows are split into ``folds`` (seeded), every candidate is trained on the
other folds and scores the held-out rows after every ``epochs // 10`` epochs, and each checkpoint is
scored by how well the held-out observed positives are ranked: the mean over labels of their average
precision against everything else in the held-out rows. Under "observed positives are a random
sample of the positives" (SCAR), ranking the observed above the unobserved measures ranking the
positives above the negatives, diluted by the missing positives the same way for every candidate.

A robust loss is chosen only when its best score beats assume-negative BCE's best (each at its own
best epoch count) by more than ``TOLERANCE`` (relative): where nothing is missing, BCE is the right
loss and near-ties go to it. The chosen loss is then refitted on all the training rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import clone
from tqdm.auto import tqdm

from trueneg.io import RecordsResult
from trueneg.multilabel.metrics import mean_average_precision

if TYPE_CHECKING:
    from trueneg.multilabel.train import MultiLabelMLP

CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("bce", {}),
    ("wan", {}),
    ("ll-r", {}),
    ("ll-ct", {}),
    ("em", {}),
    ("em-apl", {}),
    ("nnpu", {}),
    ("pu-mlc", {}),
)
"""What ``loss="auto"`` tries, each at every checkpoint of its epochs."""
FOLDS = 3
TOLERANCE = 0.02
"""A robust loss must beat BCE's validation score by this share (2%) to be chosen."""


def validation_score(observed: np.ndarray, probs: np.ndarray) -> float:
    """How well held-out rows' *observed* positives are ranked: :func:`mean_average_precision` against ``observed``.

    Example:
        >>> import numpy as np
        >>> validation_score(np.array([[1, 0], [0, 1], [0, 0]]), np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.3]]))
        1.0
    """
    return mean_average_precision(observed, probs)


def _name(loss: str, kwargs: dict[str, Any]) -> str:
    return loss if not kwargs else f"{loss}({', '.join(f'{k}={v}' for k, v in sorted(kwargs.items()))})"


@dataclass
class LossSelection(RecordsResult):
    """The outcome of ``loss="auto"``: the chosen loss and epochs, and every candidate's score per epoch count."""

    loss: str
    loss_kwargs: dict[str, Any]
    epochs: int
    scores: dict[str, dict[int, float]] = field(repr=False)
    folds: int = FOLDS

    def to_records(self) -> list[dict[str, Any]]:
        """``{"candidate", "epochs", "validation_score"}`` for every candidate and checkpoint."""
        return [
            {"candidate": name, "epochs": epochs, "validation_score": round(score, 6)}
            for name, curve in self.scores.items()
            for epochs, score in curve.items()
        ]

    def _summary(self) -> dict[str, Any]:
        best = {name: max(curve, key=curve.__getitem__) for name, curve in self.scores.items()}
        return {
            "chosen": _name(self.loss, self.loss_kwargs),
            "epochs": self.epochs,
            "validation": f"{self.folds}-fold over training rows, AP of held-out observed positives",
            "candidates": {
                name: {"validation_score": round(self.scores[name][e], 4), "epochs": e} for name, e in best.items()
            },
        }


def select_loss(
    estimator: MultiLabelMLP, X: np.ndarray, Y: np.ndarray, folds: int = FOLDS, tolerance: float = TOLERANCE
) -> LossSelection:
    """Choose among ``estimator.candidates`` (default :data:`CANDIDATES`) by cross-validation on ``(X, Y)``.

    ``Y`` is the observed annotation matrix. BCE is always a candidate.
    """
    candidates = list(estimator.candidates or CANDIDATES)
    if not any(loss == "bce" and not kwargs for loss, kwargs in candidates):
        candidates.insert(0, ("bce", {}))
    if len(X) < 2 * folds:
        raise ValueError(f"loss='auto' needs at least {2 * folds} rows for {folds}-fold validation, got {len(X)}")
    assignment = np.random.default_rng(estimator.seed).permutation(len(X)) % folds
    every = max(1, estimator.epochs // 10)
    scores: dict[str, dict[int, float]] = {}
    with tqdm(total=len(candidates) * folds, desc="Choosing the loss", unit="fit", leave=False) as bar:
        for loss, kwargs in candidates:
            held_out: dict[int, np.ndarray] = {}
            for fold in range(folds):
                train, test = assignment != fold, assignment == fold

                def keep(epoch: int, predict: Any, test: np.ndarray = test, held_out: dict = held_out) -> None:
                    held_out.setdefault(epoch, np.zeros(Y.shape, dtype=np.float32))[test] = predict(X[test])

                clone(estimator).train_network(X[train], Y[train], loss, dict(kwargs), estimator.epochs, keep, every)
                bar.update()
            scores[_name(loss, kwargs)] = {epoch: validation_score(Y, probs) for epoch, probs in held_out.items()}
    return _choose(candidates, scores, tolerance, folds)


def _choose(
    candidates: list[tuple[str, dict[str, Any]]], scores: dict[str, dict[int, float]], tolerance: float, folds: int
) -> LossSelection:
    best = {name: max(curve, key=curve.__getitem__) for name, curve in scores.items()}
    winner = max(scores, key=lambda name: scores[name][best[name]])
    if scores[winner][best[winner]] <= (1 + tolerance) * scores["bce"][best["bce"]]:
        winner = "bce"
    loss, kwargs = next((loss, kwargs) for loss, kwargs in candidates if _name(loss, kwargs) == winner)
    return LossSelection(loss, dict(kwargs), best[winner], scores, folds)
