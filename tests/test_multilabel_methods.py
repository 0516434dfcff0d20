"""The missing-label methods on planted data, ``loss="auto"``, model files and the ``trueneg multilabel`` command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.multilabel import (
    EntropyMaximizationAPL,
    LargeLossModification,
    MultiLabelMLP,
    OnlineLabelEstimation,
    PULoss,
    WeakAssumeNegative,
    load_multilabel,
    mean_average_precision,
)

FAST = [("bce", {}), ("wan", {}), ("ll-r", {"rate": 0.02})]


def _planted(seed: int, hide: float, n: int = 500, labels: int = 6):
    """Labels from random linear scores of the features; ``hide`` of the positives left unannotated."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    Y = (X @ rng.normal(size=(8, labels)) + rng.normal(scale=0.5, size=(n, labels)) > 1.0).astype(int)
    return X, Y, Y * (rng.random(Y.shape) >= hide)


def test_weak_assume_negative_and_pu_loss_values() -> None:
    logits, observed = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1.0, 0.0, 0.0]])
    bce = [math.log1p(math.exp(-2.0)), math.log1p(math.exp(-1.0)), math.log1p(math.exp(0.5))]
    expected = (bce[0] + 0.5 * bce[1] + 0.5 * bce[2]) / 3
    assert WeakAssumeNegative()(logits, observed).item() == pytest.approx(expected, rel=1e-5)
    # PU-MLC reading: with prior 0.5 the re-balance factor is 1 and the temperature 1.5
    pi = 0.5
    z = torch.tensor([[2.0], [-1.0]])
    obs = torch.tensor([[1.0], [0.0]])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    negative = (sp(2 / 1.5) + sp(-1 / 1.5)) / 2 - pi * sp(2 / 1.5)
    assert PULoss([pi])(z, obs).item() == pytest.approx(pi * sp(-2.0) + max(negative, 0.0), rel=1e-5)


def test_large_loss_rejection_picks_planted_missing_labels() -> None:
    """After a few epochs, the unobserved labels with the largest losses are mostly the hidden positives."""
    X, Y, observed = _planted(0, hide=0.5)
    model = MultiLabelMLP(loss="bce", epochs=5, seed=0).fit(X, observed)
    logits = torch.logit(torch.from_numpy(model.predict_proba(X)).double().clamp(1e-6, 1 - 1e-6)).float()
    rule = LargeLossModification(rate=0.05)
    rule.begin_epoch(2)  # 10% of the unobserved entries
    large = rule.large_losses(logits, torch.from_numpy(observed).float()).numpy()
    hidden = (Y == 1) & (observed == 0)
    base_rate = hidden[observed == 0].mean()
    assert large.sum() == int(0.1 * (observed == 0).sum())
    assert hidden[large].mean() > 2 * base_rate  # missing positives are flagged far above their share
    assert not large[observed == 1].any()


def test_scheduled_losses_train_and_keep_state() -> None:
    X, _, observed = _planted(1, hide=0.5, n=200)
    apl = MultiLabelMLP(loss="em-apl", loss_kwargs={"warmup": 2}, epochs=4, seed=0).fit(X, observed)
    assert apl.predict_proba(X).shape == observed.shape
    loss = EntropyMaximizationAPL(warmup=0, negative_share=0.5)
    probs = torch.tensor([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1], [0.3, 0.4]])
    seen = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    loss.begin_epoch(0, lambda: (probs, seen))
    # per label, unobserved entries at or below the median become pseudo-negatives; observed ones never
    assert loss.pseudo.tolist() == [[-1.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [0.0, -1.0]]
    role = MultiLabelMLP(loss="role", epochs=3, seed=0).fit(X, observed)
    assert np.isfinite(role.predict_proba(X)).all()
    with pytest.raises(ValueError, match="row numbers"):
        OnlineLabelEstimation(4, 2)(torch.zeros(4, 2), seen)


@pytest.mark.parametrize(("hide", "robust"), [(0.0, False), (0.5, True)])
def test_auto_picks_bce_when_nothing_is_missing_and_a_robust_loss_when_half_is(hide: float, robust: bool) -> None:
    X, _, observed = _planted(2, hide=hide)
    model = MultiLabelMLP(loss="auto", epochs=10, seed=0, candidates=FAST).fit(X, observed)
    summary = model.selection_.summary
    assert set(summary["candidates"]) == {"bce", "wan", "ll-r(rate=0.02)"}
    assert (model.loss_ != "bce") is robust, summary
    assert model.epochs_ in range(1, 11)
    assert len(model.selection_.to_records()) == 3 * 10


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    X, _, observed = _planted(3, hide=0.3, n=120)
    model = MultiLabelMLP(loss="wan", epochs=3, seed=0).fit(X, observed)
    path = model.save(tmp_path / "model.pt", label_names=list("abcdef"))
    loaded = MultiLabelMLP.load(path)
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.label_names_ == list("abcdef") and loaded.loss_ == "wan"
    with pytest.raises(ValueError, match="features"):
        loaded.predict_proba(X[:, :3])
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a model written by"):
        MultiLabelMLP.load(tmp_path / "bad.pt")


def _write_csv(path: Path, X: np.ndarray, Y: np.ndarray) -> None:
    header = [f"f{i}" for i in range(X.shape[1])] + [f"L{j}" for j in range(Y.shape[1])]
    rows = [",".join([*(f"{v:.5f}" for v in x), *(str(int(v)) for v in y)]) for x, y in zip(X, Y)]
    path.write_text("\n".join([",".join(header), *rows]) + "\n")


def test_multilabel_command_find_and_train(tmp_path: Path) -> None:
    X, Y, observed = _planted(4, hide=0.5, n=240)
    _write_csv(tmp_path / "train.csv", X[:160], observed[:160])
    _write_csv(tmp_path / "test.csv", X[160:], Y[160:])
    columns = ",".join(f"L{j}" for j in range(6))
    runner = CliRunner()
    out = str(tmp_path / "missing.jsonl")
    found = runner.invoke(app, ["multilabel", "find", str(tmp_path / "train.csv"), "--label-columns", columns,
                                "--loss", "bce", "--epochs", "5", "--json", "-o", out])  # fmt: skip
    assert found.exit_code == 0, found.output
    payload = json.loads(found.stdout)
    low, high = payload["expected_missing_interval"]
    assert low <= payload["expected_missing_total"] <= high
    rows = [json.loads(line) for line in (tmp_path / "missing.jsonl").read_text().splitlines()]
    assert len(rows) == int((observed[:160] == 0).sum()) and rows[0]["label_name"].startswith("L")
    assert [r["probability"] for r in rows] == sorted((r["probability"] for r in rows), reverse=True)
    trained = runner.invoke(app, ["multilabel", "train", str(tmp_path / "train.csv"), "--label-columns", columns,
                                  "--loss", "bce", "--epochs", "5", "--test", str(tmp_path / "test.csv"),
                                  "-o", str(tmp_path / "model.pt"), "--json"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    result = json.loads(trained.stdout)
    model = MultiLabelMLP.load(tmp_path / "model.pt")
    test = load_multilabel(tmp_path / "test.csv", label_columns=columns.split(","))
    assert result["test_map"] == pytest.approx(mean_average_precision(test.Y, model.predict_proba(test.X)), abs=1e-4)


def test_multilabel_command_errors(tmp_path: Path) -> None:
    X, _, observed = _planted(5, hide=0.5, n=40)
    bad = observed.copy()
    bad[7, 2] = 2
    _write_csv(tmp_path / "bad.csv", X, bad)
    runner = CliRunner()
    cases = [
        (["find", str(tmp_path / "bad.csv"), "--label-columns", "L0,L1,L2,L3,L4,L5"],
         "bad.csv: line 9, column 'L2': a label must be 0 or 1"),
        (["find", str(tmp_path / "bad.csv"), "--label-columns", "L0,L9"], "label columns ['L9'] not in the header"),
        (["find", str(tmp_path / "bad.csv")], "name the label columns"),
        (["train", str(tmp_path / "bad.csv"), "--label-columns", "L0"], "nothing to do"),
        (["find", str(tmp_path / "bad.csv"), "--label-columns", "L0", "--loss", "nope"], "--loss must be one of auto"),
        (["find", str(tmp_path / "x.npy")], "needs its .npy label matrix"),
        (["find", str(tmp_path / "bad.csv"), "--label-columns", "L0", "-o", str(tmp_path / "bad.csv")], "is an input"),
    ]  # fmt: skip
    for args, message in cases:
        result = runner.invoke(app, ["multilabel", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", observed[:30])
    result = runner.invoke(app, ["multilabel", "find", str(tmp_path / "X.npy"), str(tmp_path / "Y.npy")])
    assert result.exit_code == 2 and "30 label rows for the 40 feature rows" in " ".join(result.output.split())
