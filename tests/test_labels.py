"""Classification label issues: Confident Learning, kNN disagreement, messy prediction files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.labels import PredProbsWarning, check_pred_probs, estimate_noise, find_label_issues

runner = CliRunner()


def _noisy(n: int = 3000, k: int = 4, noise: float = 0.15, seed: int = 0):
    """Well-separated clusters, a known share of flipped labels, and out-of-sample-like probabilities."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    centers = rng.normal(0, 4, (k, 8))
    features = centers[true] + rng.normal(0, 1, (n, 8))
    logits = -((features[:, None, :] - centers[None]) ** 2).sum(-1) / 8
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < noise
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    return given, probs, features, true, flip


def test_finds_flipped_labels_and_estimates_noise() -> None:
    given, probs, _, true, flip = _noisy()
    result = find_label_issues(given, probs)
    found = result.is_issue
    precision = (found & flip).sum() / found.sum()
    recall = (found & flip).sum() / flip.sum()
    assert precision > 0.9 and recall > 0.8
    assert abs(result.noise.noise_rate - flip.mean()) < 0.03
    assert result.noise.joint.sum() == pytest.approx(1.0)
    records = result.to_records()
    assert [r["score"] for r in records] == sorted((r["score"] for r in records), reverse=True)
    suggested = np.array([r["suggested_label"] for r in records])
    idx = np.array([r["index"] for r in records])
    assert (suggested == true[idx]).mean() > 0.9
    assert all(r["suggested_label"] != r["given_label"] for r in records)


def test_filter_methods_nest() -> None:
    given, probs, *_ = _noisy(seed=1)
    both = find_label_issues(given, probs, filter_by="both").is_issue
    by_class = find_label_issues(given, probs, filter_by="prune_by_class").is_issue
    by_noise = find_label_issues(given, probs, filter_by="prune_by_noise_rate").is_issue
    assert np.array_equal(both, by_class & by_noise)
    with pytest.raises(ValueError, match="filter_by"):
        find_label_issues(given, probs, filter_by="nope")


def test_knn_signal_helps_when_probabilities_are_uninformative() -> None:
    given, _, features, _, flip = _noisy(seed=2)
    flat = np.full((len(given), 4), 0.25) + np.random.default_rng(0).normal(0, 0.01, (len(given), 4))
    flat = np.abs(flat) / np.abs(flat).sum(1, keepdims=True)
    without = find_label_issues(given, flat)
    with_knn = find_label_issues(given, flat, features=features)
    top = len(np.flatnonzero(flip))
    assert flip[np.argsort(-with_knn.scores)[:top]].mean() > 0.8
    assert flip[np.argsort(-without.scores)[:top]].mean() < 0.4


def test_messy_prediction_files() -> None:
    labels = np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.4, 0.6]])
    with pytest.warns(PredProbsWarning, match="float16"):
        out, _ = check_pred_probs(probs.astype(np.float16), labels)
    assert out.dtype == np.float64
    with pytest.warns(PredProbsWarning, match="clipped"):
        out, _ = check_pred_probs(np.array([[1.0004, -0.0004], [0.3, 0.7], [0.4, 0.6]]), labels)
    assert out.min() >= 0 and np.allclose(out.sum(1), 1)
    with pytest.warns(PredProbsWarning, match="renormalized"):
        out, _ = check_pred_probs(probs * 0.8, labels)
    assert np.allclose(out, probs)
    with pytest.warns(PredProbsWarning, match="logits"):
        out, _ = check_pred_probs(np.log(probs) * 3, labels)
    assert np.allclose(out.sum(1), 1) and (out.argmax(1) == probs.argmax(1)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_pred_probs(probs, labels)  # clean input: no warning
    for bad, message in [
        (np.array([[np.nan, 1.0], [0.5, 0.5], [0.5, 0.5]]), "NaN"),
        (np.array([[0.0, 0.0], [0.5, 0.5], [0.5, 0.5]]), "all zeros"),
        (np.ones(3), "must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_pred_probs(bad, labels)
    with pytest.raises(ValueError, match=r"labels: must lie in \[0, 2\)"):
        check_pred_probs(probs, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="whole class indices"):
        check_pred_probs(probs, np.array([0.0, 1.5, 1.0]))
    with pytest.raises(ValueError, match="3 rows"):
        check_pred_probs(probs, np.array([0, 1]))


def test_noise_estimate_on_clean_labels_is_small() -> None:
    given, probs, _, true, _ = _noisy(noise=0.0)
    assert estimate_noise(true, probs).noise_rate < 0.02


def test_cli_labels(tmp_path: Path) -> None:
    given, probs, features, _, flip = _noisy(n=800)
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", given)
    np.save(tmp_path / "f.npy", features)
    res = runner.invoke(
        app,
        ["labels", str(tmp_path / "y.npy"), str(tmp_path / "p.npy"), "--features", str(tmp_path / "f.npy"), "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    issues = out["issues"]
    assert issues and set(issues[0]) == {"index", "score", "given_label", "suggested_label"}
    assert np.mean([flip[i["index"]] for i in issues]) > 0.85
    assert 0 < out["noise"]["noise_rate"] < 0.3
    res = runner.invoke(app, ["labels", str(tmp_path / "y.npy"), str(tmp_path / "p.npy")])
    assert res.exit_code == 0 and "given" in res.output
    (tmp_path / "bad.npy").write_text("not numpy")
    res = runner.invoke(app, ["labels", str(tmp_path / "y.npy"), str(tmp_path / "bad.npy")])
    assert res.exit_code == 2 and "bad.npy" in res.output
    res = runner.invoke(app, ["labels", str(tmp_path / "p.npy"), str(tmp_path / "y.npy")])  # the old order
    assert res.exit_code == 2 and "pass LABELS first, then PRED_PROBS" in res.output


def test_probabilities_a_hair_outside_the_simplex_are_clipped_not_softmaxed() -> None:
    given, probs, _, _, _ = _noisy(n=600, seed=3)
    clean = find_label_issues(given, probs).to_records()
    nudged = probs.copy()
    nudged[0, 0] += 0.004  # one value a hair above 1 or beside its row
    with pytest.warns(PredProbsWarning, match="renormalized|clipped"):
        repaired = find_label_issues(given, nudged).to_records()
    # only row 0 changed: every other example keeps its verdict (a softmax of all rows would move them all)
    assert [r["index"] for r in repaired if r["index"] != 0] == [r["index"] for r in clean if r["index"] != 0]
