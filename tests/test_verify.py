"""Verified estimates: the design and the estimator cover the truth over repeated draws, the files round-trip
through audit and mine, and bad judgment files are refused with the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.pu.verify import (
    Judgments,
    calibrate,
    draw_design,
    estimate_total,
    relabel_threshold,
)

from .conftest import HashEncoder, scifact_slice

runner = CliRunner()
SMALL = ["--depth", "40", "-q"]  # the verify and judgments runs share the pool's depth


def _planted(n: int = 4000, seed: int = 0, informative: bool = True):
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 2.0, n)
    truth_probability = p if informative else rng.permutation(p)  # a useless detector: right marginal, wrong pairs
    y = (rng.random(n) < truth_probability).astype(float)
    return p, y


@pytest.mark.parametrize("informative", [True, False])
@pytest.mark.parametrize("budget", [50, 200])
def test_interval_covers_the_truth_over_repeated_draws(informative: bool, budget: int) -> None:
    p, y = _planted(informative=informative)
    focus = np.zeros(len(p), dtype=bool)
    focus[:1000] = True  # the estimate is about a subset, as the top-k candidates are
    truth = y[focus].mean()
    hits, errors = [], []
    for draw in range(200):
        d = draw_design(p, budget, seed=draw, focus=[(focus, 0.9)])
        rate = estimate_total(p, d.index, d.q, y[d.index], focus, d.count).rate(0.9)
        hits.append(rate["ci_low"] <= truth <= rate["ci_high"])
        errors.append(rate["estimated_fn_rate"] - truth)
    assert np.mean(hits) >= 0.84, np.mean(hits)
    assert abs(np.mean(errors)) < 0.01  # unbiased: the mean error over draws is near zero


def test_a_small_stratum_with_rare_missing_positives_still_covers() -> None:
    """The emitted negatives' case: 20% of 50 draws on a stratum where 3% of pairs are relevant. Most draws find
    no relevant pair there; the interval must still reach the truth (a t-interval collapsed to [0, 0])."""
    rng = np.random.default_rng(5)
    p = rng.beta(0.6, 2.0, 4000)
    stratum = np.zeros(len(p), dtype=bool)
    stratum[1000:1300] = True
    y = np.where(stratum, rng.random(len(p)) < 0.03, rng.random(len(p)) < p).astype(float)
    truth = y[stratum].mean()
    hits = []
    for draw in range(200):
        d = draw_design(p, 50, seed=draw, focus=[(~stratum, 0.7), (stratum, 0.2)])
        rate = estimate_total(p, d.index, d.q, y[d.index], stratum, d.count).rate(0.9)
        hits.append(rate["ci_low"] <= truth <= rate["ci_high"])
    assert np.mean(hits) >= 0.85, np.mean(hits)


def test_a_good_detector_narrows_the_interval() -> None:
    p, y = _planted()
    widths = {}
    for name, pred in (("detector", p), ("useless", np.full(len(p), p.mean()))):
        rates = [estimate_total(pred, d.index, d.q, y[d.index], np.ones(len(p), bool), d.count).rate(0.9)
                 for d in (draw_design(pred, 200, seed=s) for s in range(30))]  # fmt: skip
        widths[name] = np.mean([r["ci_high"] - r["ci_low"] for r in rates])
    assert widths["detector"] < 0.85 * widths["useless"]


def test_same_seed_same_rows_and_n_distinct_pairs() -> None:
    p, _ = _planted()
    a, b, c = draw_design(p, 120, seed=3), draw_design(p, 120, seed=3), draw_design(p, 120, seed=4)
    assert np.array_equal(a.index, b.index) and np.array_equal(a.count, b.count)
    assert len(np.unique(a.index)) == 120 and not np.array_equal(a.index, c.index)
    with pytest.raises(ValueError, match="holds 4000 unlabeled"):
        draw_design(p, 5000)


def _judgments(p: np.ndarray, y: np.ndarray, q: np.ndarray) -> Judgments:
    n = len(p)
    return Judgments(Path("v.jsonl"), [str(i) for i in range(n)], [str(i) for i in range(n)], p, q,
                     np.ones(n, dtype=np.int64), y, "s", n)  # fmt: skip


def test_calibration_undoes_an_overconfident_detector() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 3000)
    y = (rng.random(3000) < p / 2).astype(float)  # the detector says twice the truth
    calibration = calibrate(_judgments(p, y, np.full(3000, 1 / 3000)))
    grid = np.array([0.2, 0.5, 0.9])
    assert np.allclose(calibration(grid), grid / 2, atol=0.08)
    assert np.isnan(calibration(np.array([np.nan])))[0]


def test_relabel_threshold_meets_the_precision_or_says_none() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 2000)
    y = (rng.random(2000) < p).astype(float)
    pick = relabel_threshold(_judgments(p, y, np.full(2000, 1 / 2000)), target=0.8)
    above = p >= pick["threshold"]
    assert pick["precision"] >= 0.8 and y[above].mean() >= 0.75 and above.sum() == pick["pairs_above"]
    low = relabel_threshold(_judgments(p, (rng.random(2000) < p / 3).astype(float), np.full(2000, 1 / 2000)))
    assert low["threshold"] is None and low["best_precision"] < 0.8


@pytest.fixture(scope="module")
def hashed():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("trueneg.candidates.pool.encoder_for", lambda *a, **k: HashEncoder())
        yield


@pytest.fixture(scope="module")
def sampled(hashed, tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    data = scifact_slice(folder / "data", n_queries=30, extra_docs=80)
    out = folder / "audit"
    result = runner.invoke(app, ["audit", str(data), "-o", str(out), "--verify", "60", *SMALL])
    assert result.exit_code == 0, result.output
    assert "judge the 60 rows" in " ".join(result.output.split())
    return data, out, (out / "verify.jsonl").read_text()


@pytest.fixture
def audited(sampled, tmp_path: Path):
    data, out, text = sampled
    (out / "verify.jsonl").write_text(text)  # as the audit wrote it (a test may fill it)
    return data, out, [json.loads(line) for line in text.splitlines()]


def _fill(rows: list[dict], path: Path, judge=lambda i, r: int(i % 3 == 0)) -> Path:
    filled = [{**r, "judgment": judge(i, r) if r["judgment"] is None else r["judgment"]} for i, r in enumerate(rows)]
    path.write_text("".join(json.dumps(r) + "\n" for r in filled))
    return path


def test_audit_verify_then_judgments(audited, tmp_path: Path) -> None:
    data, out, rows = audited
    assert len(rows) == 60 and len({(r["query_id"], r["doc_id"]) for r in rows}) == 60
    assert set(rows[0]) >= {"query_id", "doc_id", "query", "document", "positives", "probability",
                            "inclusion_probability", "judgment"}  # fmt: skip
    assert all(r["judgment"] is None and r["positives"] for r in rows)
    again = runner.invoke(app, ["audit", str(data), "-o", str(tmp_path / "again"), "--verify", "60", *SMALL])
    assert again.exit_code == 0
    assert (tmp_path / "again" / "verify.jsonl").read_text() == (out / "verify.jsonl").read_text()
    filled = _fill(rows, tmp_path / "filled.jsonl")
    result = runner.invoke(app, ["audit", str(data), "-o", str(tmp_path / "verified"), "--judgments", str(filled),
                                 "--json", *SMALL])  # fmt: skip
    assert result.exit_code == 0, result.output
    verified = json.loads(result.stdout)["verified"]
    assert verified["judged"] == 60 and verified["level"] == 0.9
    assert 0 <= verified["ci_low"] <= verified["estimated_fn_rate"] <= verified["ci_high"] <= 1
    assert {"estimated_fn_rate", "ci_low", "ci_high"} <= set(verified["mining"]) and "model_based" in verified
    report = (tmp_path / "verified" / "report.html").read_text()
    assert "<b>Verified</b> by 60 judgments" in report and "rests on the PU assumption" in report
    assert "Next step" in report and f"--judgments {filled}" in report and "--max-fn-rate" in report
    first = (out / "report.html").read_text()
    assert "Not verified." in first and "verify.jsonl" in first and "queries got none" in first
    # a filled sample is never replaced by a new one
    _fill(rows, out / "verify.jsonl")  # the person's work, in the audit folder
    refused = runner.invoke(app, ["audit", str(data), "-o", str(out), "--verify", "60", *SMALL])
    assert refused.exit_code == 2 and "holds 60 judgments" in " ".join(refused.output.split())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: rows[:20], r"20 of 20 rows are judged; an interval needs at least 30 \(10 more\)"),
    (lambda rows: [{**rows[0], "judgment": 2}, *rows[1:]], r"filled.jsonl:1: field 'judgment' must be 1"),
    (lambda rows: [{**rows[0], "doc_id": "nope"}, *rows[1:]], r"document 'nope' are not in the verification frame"),
    (lambda rows: [{**r, "sample_id": "0123456789abcdef-7-60"} for r in rows], r"was not drawn from this data"),
])  # fmt: skip
def test_bad_judgment_files_are_refused_and_nothing_written(audited, tmp_path: Path, edit, message: str) -> None:
    data, _, rows = audited
    filled = _fill(edit(rows), tmp_path / "filled.jsonl")
    target = tmp_path / "verified"
    result = runner.invoke(app, ["audit", str(data), "-o", str(target), "--judgments", str(filled), *SMALL])
    assert result.exit_code == 2 and __import__("re").search(message, " ".join(result.output.split())), result.output
    assert not target.exists()


def test_mine_refuses_judgments_from_another_run(audited, tmp_path: Path) -> None:
    """mine rebuilds the audit's frame (at the depth the rows record): a sample of another seed is refused."""
    data, _, rows = audited
    assert {r["depth"] for r in rows} == {40}
    filled = _fill(rows, tmp_path / "filled.jsonl")
    out = tmp_path / "neg.jsonl"
    result = runner.invoke(app, ["mine", str(data), "-o", str(out), "--judgments", str(filled), "--seed", "7", "-q"])
    assert result.exit_code == 2 and "was not drawn from this data, model and seed" in " ".join(result.output.split())
    assert not out.exists()
    deeper = _fill([{**r, "depth": 60} for r in rows], tmp_path / "deeper.jsonl")  # the frame of another depth
    result = runner.invoke(app, ["mine", str(data), "-o", str(out), "--judgments", str(deeper), "-q"])
    assert result.exit_code == 2 and "deeper.jsonl" in result.output and not out.exists()


def test_mine_with_judgments_takes_them_as_labels(audited, tmp_path: Path) -> None:
    data, _, rows = audited
    filled = _fill(rows, tmp_path / "filled.jsonl")
    relevant = {(r["query_id"], r["doc_id"]) for i, r in enumerate(rows) if i % 3 == 0}
    out = tmp_path / "neg.jsonl"
    options = ["--max-fn-rate", "0.2", "--fn-action", "relabel", "-n", "4", "--range-max", "30", "--json", "-q"]
    result = runner.invoke(app, ["mine", str(data), "-o", str(out), "--judgments", str(filled), *options])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    info = summary["verification"]
    assert info["judged"] == 60 and info["judged_relevant"] == len(relevant) and "calibrated_at" in info
    assert info["relabel"]["threshold"] is None or info["relabel"]["precision"] >= 0.8
    if info["relabel"]["threshold"] is None:
        assert "nothing is relabeled" in info["relabel"]["note"] and summary["fn_action"]["relabeled"] == 0
    from trueneg.data import load_beir

    texts = dict(zip(load_beir(data).doc_ids, load_beir(data).doc_texts))
    query_text = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (data / "queries.jsonl").open()}
    mined = {r["query"]: r for r in map(json.loads, out.read_text().splitlines())}
    for qid, did in relevant:  # a judged-relevant pair is a positive now, never a negative
        row = mined.get(query_text[qid])
        assert row is None or (texts[did] in row["pos"] and texts[did] not in row["neg"])
    # with a teacher, the detector whose probabilities the judgments calibrate reads it, as the audit's would
    from trueneg.mining import mine_negatives

    taught = mine_negatives(load_beir(data), judgments=filled, teacher=HashEncoder(seed=9), max_fn_rate=0.2,
                            num_negatives=4, range_max=30, show_progress=False)  # fmt: skip
    assert "teacher_score" in taught.summary["false_negatives"]["detector"]["signals"]
    assert taught.summary["verification"]["judged"] == 60
