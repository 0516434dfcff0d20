"""Make real prediction files usable, or refuse them with a reason.

Handled with a warning: float16/float32 input (computed in float64), values a hair outside
[0, 1] (clipped, then renormalized: a file whose values all lie in [-0.05, 1.05] with rows summing
to 1 within 0.05 is probabilities with rounding noise, whatever one entry says), rows that do not
sum to 1 (renormalized), and logits or log-probabilities passed by mistake (anything else with a
value below ``-tol`` or above ``1 + tol``: a softmax is applied). Refused with a
``ValueError``: wrong shapes, NaN or infinity, all-zero rows, non-integer or out-of-range labels.
"""

from __future__ import annotations

import warnings

import numpy as np

from trueneg.validation import ArgumentError


class PredProbsWarning(UserWarning):
    """A prediction file needed a repair (clipping, renormalizing, softmax)."""


def check_labels(labels: np.ndarray, n_examples: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Integer class labels as ``int64``; float labels must hold whole numbers."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ArgumentError("labels", f"must be one-dimensional (a class per example), got shape {labels.shape}")
    if n_examples is not None and len(labels) != n_examples:
        raise ArgumentError("labels", f"has {len(labels)} entries but pred_probs has {n_examples} rows")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or not np.all(labels == np.round(labels)):
            row = int(np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))[0])
            raise ArgumentError("labels", f"must be whole class indices; row {row} holds {float(labels[row])!r}")
    elif labels.dtype.kind not in "iu":
        raise ArgumentError("labels", f"must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 0 or (n_classes is not None and labels.max() >= n_classes)):
        raise ArgumentError(
            "labels",
            f"must lie in [0, {n_classes}) (pred_probs has {n_classes} columns), got range [{labels.min()}, "
            f"{labels.max()}]",
        )
    return labels


def check_pred_probs(pred_probs: np.ndarray, labels: np.ndarray, tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(pred_probs, labels)``: float64 rows on the simplex and int64 labels.

        Example:
            >>> import numpy as np

    from trueneg.validation import ArgumentError
            >>> probs, labels = check_pred_probs(np.array([[0.7, 0.3], [0.2, 0.8]]), np.array([0, 1]))
            >>> probs.dtype.name, labels.tolist()
            ('float64', [0, 1])
    """
    probs = np.asarray(pred_probs)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ArgumentError("pred_probs", f"must be (n_examples, n_classes >= 2), got shape {probs.shape}")
    if probs.dtype.kind not in "fiu":
        raise ArgumentError("pred_probs", f"must be numeric, got dtype {probs.dtype}")
    if len(probs) == 0:
        raise ArgumentError("pred_probs", "holds no example (0 rows); there is nothing to check")
    low_precision = probs.dtype == np.float16
    if low_precision:
        warnings.warn(
            "pred_probs are float16; computing in float64 (ties may come from the low precision)",
            PredProbsWarning,
            stacklevel=2,
        )
    probs = probs.astype(np.float64)
    if not np.isfinite(probs).all():
        bad = np.argwhere(~np.isfinite(probs))[0]
        raise ArgumentError("pred_probs", f"has NaN or infinite values (first at row {bad[0]}, column {bad[1]})")
    labels = check_labels(labels, len(probs), probs.shape[1])
    noisy_probabilities = (
        probs.min() >= -0.05
        and probs.max() <= 1.05
        and float(np.abs(np.clip(probs, 0, 1).sum(axis=1) - 1).max()) < 0.05
    )
    if not noisy_probabilities and (probs.min() < -tol or probs.max() > 1 + tol):
        warnings.warn(
            f"pred_probs range over [{probs.min():.3g}, {probs.max():.3g}]: they look like logits; "
            "applied a softmax over each row",
            PredProbsWarning,
            stacklevel=2,
        )
        shifted = np.exp(probs - probs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True), labels
    if probs.min() < 0 or probs.max() > 1:
        warnings.warn(
            f"pred_probs slightly outside [0, 1] (by up to {max(-probs.min(), probs.max() - 1):.2g}); clipped",
            PredProbsWarning,
            stacklevel=2,
        )
        probs = np.clip(probs, 0.0, 1.0)
    sums = probs.sum(axis=1)
    if (sums <= 0).any():
        raise ArgumentError("pred_probs", f"row {int(np.argmax(sums <= 0))} is all zeros")
    worst = float(np.abs(sums - 1).max())
    if worst > (2e-3 if low_precision else 1e-4):  # float16 rounding alone moves sums by ~1e-3
        warnings.warn(
            f"pred_probs rows sum to between {sums.min():.4g} and {sums.max():.4g}; renormalized",
            PredProbsWarning,
            stacklevel=2,
        )
    return probs / sums[:, None], labels
