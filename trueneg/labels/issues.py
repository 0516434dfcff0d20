"""Label errors in classification data: Confident Learning plus k-nearest-neighbour disagreement.

An example filed under the wrong class is a missing positive of its true class. Two signals:

- **Confident Learning** (Northcutt, Jiang & Chuang, 2021): per-class thresholds ``t_j`` = mean
  predicted probability of class ``j`` over examples labeled ``j``; the *confident joint* counts
  examples labeled ``i`` whose probability for ``j`` clears ``t_j`` (the most probable such ``j``);
  calibrated to the label counts it estimates the joint ``Q[i, j]`` of given and true labels.
  Pruning picks ``n * Q[i, j]`` examples: ``"prune_by_noise_rate"`` takes, per off-diagonal cell,
  the examples labeled ``i`` with the largest margin ``p_j - p_i``; ``"prune_by_class"`` takes,
  per class, the examples with the lowest ``p_i``; ``"both"`` their intersection;
  ``"confident_learning"`` the off-diagonal of the confident joint.
- **kNN disagreement** (when ``features`` are given): the share of an example's ``k`` nearest
  neighbours (cosine) whose label differs from its own, the signal used to clean TACRED and graph
  benchmarks.

Ranking score in [0, 1], higher = more likely wrong: ``(margin + 1) / 2`` with the normalized
margin ``max_{j != y} p_j - p_y``, averaged with the kNN disagreement (weight ``knn_weight``) when
features are given. Flagged examples: the Confident Learning prune set, plus, with features,
examples whose neighbours disagree at least ``knn_threshold`` while ``p_y`` is under its class
threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trueneg.io import RecordsResult
from trueneg.labels.validate import check_pred_probs
from trueneg.validation import ArgumentError, check_one_of, check_range

FILTERS = ("both", "prune_by_noise_rate", "prune_by_class", "confident_learning")


def class_thresholds(pred_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean predicted probability of each class over the examples labeled with it (inf for absent classes)."""
    n_classes = pred_probs.shape[1]
    counts = np.bincount(labels, minlength=n_classes)
    sums = np.bincount(labels, weights=pred_probs[np.arange(len(labels)), labels], minlength=n_classes)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


def confident_joint(pred_probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(C, confident_label)``: counts of (given, confidently predicted) labels, and per example the
    most probable class above its threshold (-1 when none is)."""
    n_classes = pred_probs.shape[1]
    above = pred_probs >= class_thresholds(pred_probs, labels)[None, :]
    confident = np.where(above.any(axis=1), np.argmax(np.where(above, pred_probs, -np.inf), axis=1), -1)
    has = confident >= 0
    joint = np.bincount(labels[has] * n_classes + confident[has], minlength=n_classes**2)
    return joint.reshape(n_classes, n_classes), confident


@dataclass
class NoiseEstimate:
    """Estimated joint of given (rows) and true (columns) labels, and the noise it implies."""

    joint: np.ndarray
    noise_rate_per_class: np.ndarray
    noise_rate: float
    expected_errors: int


def estimate_noise(labels: np.ndarray, pred_probs: np.ndarray) -> NoiseEstimate:
    """Calibrated confident joint ``Q`` (sums to 1) and per-class noise ``1 - Q[i, i] / sum_j Q[i, j]``.

    Example:
        >>> import numpy as np
        >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.9, 0.1]])
        >>> estimate_noise(np.array([0, 0, 1, 1]), probs).expected_errors
        1
    """
    probs, labels = check_pred_probs(pred_probs, labels)
    n, n_classes = probs.shape
    counts, _ = confident_joint(probs, labels)
    given = np.bincount(labels, minlength=n_classes).astype(float)
    rows = counts.sum(axis=1, keepdims=True).astype(float)
    calibrated = np.where(rows > 0, counts / np.maximum(rows, 1) * given[:, None], np.diag(given))
    joint = calibrated / n
    per_class = 1 - np.diag(joint) / np.maximum(joint.sum(axis=1), 1e-12)
    noise = float(1 - np.trace(joint))
    return NoiseEstimate(joint, np.where(given > 0, per_class, 0.0), noise, int(round(n * noise)))


def _prune(probs: np.ndarray, labels: np.ndarray, joint: np.ndarray, filter_by: str) -> np.ndarray:
    """Boolean mask of the examples Confident Learning flags."""
    n, n_classes = probs.shape
    rows = np.arange(n)
    self_conf = probs[rows, labels]
    by_class = np.zeros(n, dtype=bool)
    by_noise = np.zeros(n, dtype=bool)
    for i in range(n_classes):  # loops over classes, not examples
        members = np.flatnonzero(labels == i)
        if members.size == 0:
            continue
        n_wrong = int(round(n * (joint[i].sum() - joint[i, i])))
        if n_wrong:
            by_class[members[np.argsort(self_conf[members], kind="stable")[:n_wrong]]] = True
        for j in range(n_classes):
            n_ij = int(round(n * joint[i, j])) if j != i else 0
            if n_ij:
                margin = probs[members, j] - self_conf[members]
                by_noise[members[np.argsort(-margin, kind="stable")[:n_ij]]] = True
    if filter_by == "prune_by_class":
        return by_class
    if filter_by == "prune_by_noise_rate":
        return by_noise
    return by_class & by_noise


def knn_label_votes(features: np.ndarray, labels: np.ndarray, n_classes: int, k: int = 10) -> np.ndarray:
    """``(n, n_classes)`` share of each example's ``k`` nearest neighbours (cosine, itself excluded) per label."""
    import faiss

    x = np.ascontiguousarray(features, dtype=np.float32)
    if x.ndim != 2 or len(x) != len(labels):
        raise ArgumentError("features", f"must be (n_examples, dim) with {len(labels)} rows, got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ArgumentError("features", f"contain NaN or infinite values (first at row {bad[0]}, column {bad[1]})")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = min(k, len(x) - 1)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, neighbours = index.search(x, k + 1)
    own = neighbours == np.arange(len(x))[:, None]
    # drop the example itself (or the last neighbour when an exact duplicate ranked before it)
    drop_col = np.where(own.any(axis=1), own.argmax(axis=1), k)
    keep = np.ones_like(neighbours, dtype=bool)
    keep[np.arange(len(x)), drop_col] = False
    neighbour_labels = labels[neighbours[keep].reshape(len(x), k)]
    votes = np.zeros((len(x), n_classes))
    np.add.at(votes, (np.repeat(np.arange(len(x)), k), neighbour_labels.ravel()), 1.0 / k)
    return votes


@dataclass
class LabelIssues(RecordsResult):
    """Per-example scores and suggestions, the flagged examples ranked, and the noise estimate.

    ``to_dict()`` is what ``trueneg labels --json`` prints: ``{"issues": to_records(), "noise": {...}}``;
    ``write(path)`` writes it (``.json``) or the records (``.jsonl`` / ``.parquet``).
    """

    records_key = "issues"

    ranked: np.ndarray
    is_issue: np.ndarray
    scores: np.ndarray
    given_labels: np.ndarray
    suggested_labels: np.ndarray
    noise: NoiseEstimate

    def to_records(self) -> list[dict[str, float | int]]:
        """Flagged examples, most likely errors first, as ``{"index", "score", "given_label", "suggested_label"}``."""
        return [
            {
                "index": int(i),
                "score": round(float(self.scores[i]), 6),
                "given_label": int(self.given_labels[i]),
                "suggested_label": int(self.suggested_labels[i]),
            }
            for i in self.ranked
        ]

    def _summary(self) -> dict[str, Any]:
        noise = self.noise
        return {
            "noise": {
                "noise_rate": round(noise.noise_rate, 5),
                "expected_errors": noise.expected_errors,
                "noise_rate_per_class": [round(float(v), 5) for v in noise.noise_rate_per_class],
                "joint": [[round(float(v), 6) for v in row] for row in noise.joint],
            }
        }


def find_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    features: np.ndarray | None = None,
    *,
    filter_by: str = "both",
    k: int = 10,
    knn_weight: float = 0.5,
    knn_threshold: float = 0.8,
) -> LabelIssues:
    """Ranked suspected label errors with a score and a suggested label per example.

    Args:
        labels: given labels, ``(n,)`` integers. pred_probs: out-of-sample predicted probabilities
            ``(n, n_classes)`` (see :func:`~trueneg.labels.validate.check_pred_probs` for what is repaired).
        features: optional ``(n, dim)`` features or embeddings for the kNN signal.
        filter_by: Confident Learning prune method, one of :data:`FILTERS`.
        k / knn_weight / knn_threshold: neighbours, weight of the kNN score, and the disagreement
            that flags an example on its own.

    Example:
        >>> import numpy as np
        >>> probs = np.array([[0.9, 0.1], [0.95, 0.05], [0.1, 0.9], [0.97, 0.03], [0.2, 0.8]])
        >>> find_label_issues(np.array([0, 0, 1, 1, 1]), probs).to_records()[0]["index"]
        3
    """
    check_one_of("filter_by", filter_by, FILTERS)
    check_range("k", k, low=1, integer=True)
    probs, labels = check_pred_probs(pred_probs, labels)
    n, n_classes = probs.shape
    rows = np.arange(n)
    noise = estimate_noise(labels, probs)
    if filter_by == "confident_learning":
        _, confident = confident_joint(probs, labels)
        flagged = (confident >= 0) & (confident != labels)
    else:
        flagged = _prune(probs, labels, noise.joint, filter_by)
    others = probs.copy()
    others[rows, labels] = -np.inf
    scores = (others.max(axis=1) - probs[rows, labels] + 1) / 2
    evidence = probs.copy()
    if features is not None:
        votes = knn_label_votes(np.asarray(features), labels, n_classes, k)
        disagreement = 1 - votes[rows, labels]
        scores = (1 - knn_weight) * scores + knn_weight * disagreement
        evidence = (1 - knn_weight) * probs + knn_weight * votes
        below = probs[rows, labels] < class_thresholds(probs, labels)[labels]
        flagged |= (disagreement >= knn_threshold) & below
    evidence[rows, labels] = -np.inf
    suggested = evidence.argmax(axis=1)
    ranked = np.flatnonzero(flagged)[np.argsort(-scores[flagged], kind="stable")]
    return LabelIssues(ranked, flagged, scores, labels, suggested, noise)
