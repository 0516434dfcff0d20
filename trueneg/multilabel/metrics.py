"""Mean average precision over labels, the multi-label score of the benchmarks, the command and ``loss="auto"``."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score


def mean_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean over labels of the average precision of ``scores`` against the 0/1 ``labels``.

    Labels with no positive (or no negative) row are left out, as their AP is undefined.

    Example:
        >>> import numpy as np
        >>> mean_average_precision(np.array([[1, 0], [0, 1], [0, 0]]), np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.3]]))
        1.0
    """
    labels, scores = np.asarray(labels), np.asarray(scores)
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in shape")
    columns = [j for j in range(labels.shape[1]) if 0 < labels[:, j].sum() < len(labels)]
    if not columns:
        raise ValueError("no label has both a positive and a negative row to score")
    return float(np.mean([average_precision_score(labels[:, j], scores[:, j]) for j in columns]))
