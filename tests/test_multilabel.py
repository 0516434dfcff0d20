"""Multi-label losses against hand-computed values; the trainer and missing-label detection on data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from trueneg.multilabel import (
    AssumeNegativeBCE,
    AsymmetricLoss,
    EntropyMaximization,
    MultiLabelMLP,
    NonNegativePU,
    find_missing_labels,
    load_mulan,
)

from .conftest import SHARED

LOGITS = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
OBSERVED = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_assume_negative_bce() -> None:
    expected = (-math.log(_sig(2)) - math.log(1 - _sig(-1)) - math.log(1 - _sig(0)) - math.log(_sig(3))) / 4
    assert AssumeNegativeBCE()(LOGITS, OBSERVED).item() == pytest.approx(expected, rel=1e-5)


def test_asymmetric_loss() -> None:
    gn, gp, clip = 4.0, 1.0, 0.05

    def neg(z: float) -> float:
        pm = max(_sig(z) - clip, 0.0)
        return pm**gn * math.log(1 - pm)

    def pos(z: float) -> float:
        return (1 - _sig(z)) ** gp * math.log(_sig(z))

    expected = -(pos(2) + neg(-1) + neg(0) + pos(3)) / 4
    loss = AsymmetricLoss(gamma_neg=gn, gamma_pos=gp, clip=clip)(LOGITS, OBSERVED).item()
    assert loss == pytest.approx(expected, rel=1e-5)
    # gamma 0, clip 0: plain BCE
    assert AsymmetricLoss(0, 0, 0)(LOGITS, OBSERVED).item() == pytest.approx(
        AssumeNegativeBCE()(LOGITS, OBSERVED).item(), rel=1e-5
    )


def test_entropy_maximization() -> None:
    def h(z: float) -> float:
        p = _sig(z)
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    alpha = 0.2
    expected = (-math.log(_sig(2)) - alpha * h(-1) - alpha * h(0) - math.log(_sig(3))) / 4
    assert EntropyMaximization(alpha)(LOGITS, OBSERVED).item() == pytest.approx(expected, rel=1e-5)


def test_nnpu() -> None:
    priors = [0.5, 0.3]

    def softplus(x: float) -> float:
        return math.log1p(math.exp(x))

    # label 0: positives {row 0}; all rows are the unlabeled sample
    r_p_pos = softplus(-2)
    r_p_neg = softplus(2)
    r_u_neg = (softplus(2) + softplus(0)) / 2
    label0 = 0.5 * r_p_pos + max(0.0, r_u_neg - 0.5 * r_p_neg)
    # label 1: positives {row 1}
    label1 = 0.3 * softplus(-3) + max(0.0, (softplus(-1) + softplus(3)) / 2 - 0.3 * softplus(3))
    assert NonNegativePU(priors)(LOGITS, OBSERVED).item() == pytest.approx((label0 + label1) / 2, rel=1e-5)
    # the clamp: a large prior makes the negative part negative, which is cut at 0
    clamped = NonNegativePU([0.9])(torch.tensor([[5.0], [-5.0]]), torch.tensor([[1.0], [0.0]]))
    assert (softplus(5) + softplus(-5)) / 2 - 0.9 * softplus(5) < 0
    assert clamped.item() == pytest.approx(0.9 * softplus(-5), rel=1e-4)


def _synthetic(seed: int = 0, n: int = 600):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    Y = np.stack([X[:, 0] > 0.3, X[:, 1] + X[:, 2] > 0, X[:, 3] > -0.2], axis=1).astype(int)
    keep = rng.random(Y.shape) < 0.5
    return X, Y, Y * keep


def test_trainer_learns_and_is_deterministic() -> None:
    X, Y, observed = _synthetic()
    a = MultiLabelMLP(loss="em", epochs=30, seed=1).fit(X, observed).predict_proba(X)
    b = MultiLabelMLP(loss="em", epochs=30, seed=1).fit(X, observed).predict_proba(X)
    assert np.array_equal(a, b)
    from sklearn.metrics import average_precision_score

    assert np.mean([average_precision_score(Y[:, j], a[:, j]) for j in range(3)]) > 0.85
    with pytest.raises(ValueError, match="loss must be one of"):
        MultiLabelMLP(loss="nope").fit(X, observed)
    with pytest.raises(ValueError, match="0 \\(not annotated\\) and 1"):
        MultiLabelMLP().fit(X, observed * 2)


def test_nnpu_trainer_estimates_priors() -> None:
    X, Y, observed = _synthetic(seed=2)
    model = MultiLabelMLP(loss="nnpu", epochs=20).fit(X, observed)
    priors = np.asarray(model.loss_kwargs_["priors"])
    assert np.all(np.abs(priors - Y.mean(0)) < 0.15)


def test_missing_label_detection_ranks_hidden_positives() -> None:
    X, Y, observed = _synthetic(seed=3)
    probs = np.zeros(Y.shape)  # out-of-sample, as find_missing_labels asks: 3-fold
    folds = np.arange(len(X)) % 3
    for f in range(3):
        model = MultiLabelMLP(loss="asl", epochs=30).fit(X[folds != f], observed[folds != f])
        probs[folds == f] = model.predict_proba(X[folds == f])
    found = find_missing_labels(observed, probs)
    hidden = (Y == 1) & (observed == 0)
    top = found.to_records(top=int(hidden.sum()))
    assert np.mean([hidden[r["sample"], r["label"]] for r in top]) > 0.7
    expected_total = found.expected_missing.sum()
    assert 0.5 * hidden.sum() < expected_total < 1.5 * hidden.sum()
    # the pre-0.3 order and keywords still work, with a warning, and give the same result
    with pytest.warns(DeprecationWarning, match=r"pass \(labels, pred_probs\)"):
        old = find_missing_labels(probs, observed)
    with pytest.warns(DeprecationWarning):
        keywords = find_missing_labels(probabilities=probs, observed=observed)
    assert old.to_dict() == keywords.to_dict() == found.to_dict()
    assert found.to_dict()["records"][0] == found.to_records()[0]


def test_missing_labels_write_json_and_rows(tmp_path) -> None:
    observed = np.array([[1, 0], [0, 1], [1, 0], [0, 0], [1, 1], [0, 0]])
    probs = np.array([[0.9, 0.2], [0.3, 0.8], [0.7, 0.6], [0.8, 0.1], [0.9, 0.9], [0.1, 0.7]])
    found = find_missing_labels(observed, probs)
    assert [r["probability"] for r in found.to_records()] == [0.8, 0.7, 0.6, 0.3, 0.2, 0.1, 0.1]
    found.write(tmp_path / "missing.json")
    payload = json.loads((tmp_path / "missing.json").read_text())
    assert set(payload) == {
        "expected_missing", "expected_missing_total", "expected_missing_interval", "confidence", "records"
    }  # fmt: skip
    low, high = payload["expected_missing_interval"]
    assert low <= payload["expected_missing_total"] <= high
    found.write(tmp_path / "missing.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "missing.jsonl").read_text().splitlines()]
    assert rows == found.to_records()
    with pytest.raises(ValueError, match="write to a .json, .jsonl or .parquet file"):
        found.write(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="labels must be the observed 0/1 annotation matrix"):
        find_missing_labels(observed * 2, probs)


def test_load_mulan() -> None:
    folder = SHARED / "multilabel"
    if not folder.is_dir():
        pytest.skip("../shared/data/multilabel not present")
    X, Y, names = load_mulan(folder / "scene.orig.arff.gz", folder / "scene.xml.gz")
    assert X.shape == (2407, 294) and Y.shape == (2407, 6) and names[0] == "Beach"
    assert set(np.unique(Y)) == {0, 1}
    from trueneg.multilabel import load_multilabel

    beside = load_multilabel(folder / "scene.orig.arff.gz")  # the label XML found beside the ARFF
    assert np.array_equal(beside.X, X) and np.array_equal(beside.Y, Y) and beside.label_names == names


def test_load_mulan_errors(tmp_path: Path) -> None:
    from trueneg.data import DataError

    (tmp_path / "l.xml").write_text('<labels><label name="L"></label></labels>')
    (tmp_path / "d.arff").write_text("@relation r\n@attribute a numeric\n@attribute L {0,1}\n@data\n1.0,0\n2.0\n")
    with pytest.raises(DataError, match=r"d\.arff:6: expected 2 values, got 1"):
        load_mulan(tmp_path / "d.arff", tmp_path / "l.xml")


def test_load_mulan_sparse_rows_equal_dense_ones(tmp_path: Path) -> None:
    from trueneg.data import DataError

    (tmp_path / "l.xml").write_text('<labels><label name="L1"></label><label name="L2"></label></labels>')
    header = (
        "@relation r\n@attribute a numeric\n@attribute b numeric\n@attribute L1 {0,1}\n@attribute L2 {0,1}\n@data\n"
    )
    (tmp_path / "dense.arff").write_text(header + "1.5,0,1,0\n0,2,0,1\n0,0,0,0\n")
    (tmp_path / "sparse.arff").write_text(header + "{0 1.5,2 1}\n{1 2, 3 1}\n{}\n")
    dense = load_mulan(tmp_path / "dense.arff", tmp_path / "l.xml")
    sparse = load_mulan(tmp_path / "sparse.arff", tmp_path / "l.xml")
    assert np.array_equal(dense[0], sparse[0]) and np.array_equal(dense[1], sparse[1])
    (tmp_path / "bad.arff").write_text(header + "{7 1}\n")
    with pytest.raises(DataError, match=r"bad\.arff:7: sparse index 7 outside the 4 attributes"):
        load_mulan(tmp_path / "bad.arff", tmp_path / "l.xml")
