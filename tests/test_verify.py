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
    Draws,
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
        d = draw_design(p, budget, seed=draw, focus=[(focus, 0.9)], groups=np.arange(len(p)) // 10)
        rate = estimate_total(p, d, y[d.index], focus).rate(0.9)
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
        rate = estimate_total(p, d, y[d.index], stratum).rate(0.9)
        hits.append(rate["ci_low"] <= truth <= rate["ci_high"])
    assert np.mean(hits) >= 0.85, np.mean(hits)


def test_a_partly_judged_sample_still_covers_and_says_what_it_cannot_know() -> None:
    """Judging a random part of the rows is a smaller sample of the same design; a stratum left with one judged row
    does not widen another subset's interval, and a subset with pairs no judged row stands for gets [0, 1]."""
    p, y = _planted()
    top = np.zeros(len(p), dtype=bool)
    top[:1000] = True
    small = np.zeros(len(p), dtype=bool)
    small[1000:1100] = True
    hits = []
    for draw in range(200):
        d = draw_design(p, 200, seed=draw, focus=[(top, 0.7), (small, 0.2)])
        half = np.random.default_rng(draw).random(200) < 0.5
        part = Draws(d.index[half], d.position[half], d.q[half], d.strata)
        r = estimate_total(p, part, y[part.index], top).rate(0.9)
        hits.append(r["ci_low"] <= y[top].mean() <= r["ci_high"])
    assert np.mean(hits) >= 0.85
    d = draw_design(p, 200, seed=0, focus=[(top, 0.7), (small, 0.2)])
    keep = (d.stratum != 1) | (np.cumsum(d.stratum == 1) == 1)  # one judged row left in the small stratum
    one = Draws(d.index[keep], d.position[keep], d.q[keep], d.strata)
    assert estimate_total(p, one, y[one.index], top).se == estimate_total(p, d, y[d.index], top).se
    assert estimate_total(p, one, y[one.index], small).rate(0.9)["ci_high"] - \
        estimate_total(p, one, y[one.index], small).rate(0.9)["ci_low"] > 0.5
    rest = d.stratum != 1
    none = Draws(d.index[rest], d.position[rest], d.q[rest], d.strata)
    assert estimate_total(p, none, y[none.index], small).rate(0.9)[["ci_low", "ci_high"][0]] == 0.0
    assert estimate_total(p, none, y[none.index], small | top).rate(0.9)["ci_high"] == 1.0
    census = draw_design(p, len(p), seed=0, focus=[(top, 0.7), (small, 0.2)])  # every pair judged: no interval left
    rate = estimate_total(p, census, y[census.index], top).rate(0.9)
    assert rate["ci_low"] == rate["ci_high"] == round(y[top].mean(), 5)


def test_a_good_detector_narrows_the_interval() -> None:
    p, y = _planted()
    widths = {}
    for name, pred in (("detector", p), ("useless", np.full(len(p), p.mean()))):
        rates = [estimate_total(pred, d, y[d.index], np.ones(len(p), bool)).rate(0.9)
                 for d in (draw_design(pred, 200, seed=s) for s in range(30))]  # fmt: skip
        widths[name] = np.mean([r["ci_high"] - r["ci_low"] for r in rates])
    assert widths["detector"] < 0.85 * widths["useless"]


def test_same_seed_same_rows_and_n_distinct_pairs() -> None:
    p, _ = _planted()
    a, b, c = draw_design(p, 120, seed=3), draw_design(p, 120, seed=3), draw_design(p, 120, seed=4)
    assert np.array_equal(a.index, b.index) and np.array_equal(a.position, b.position)
    assert len(np.unique(a.index)) == 120 and not np.array_equal(a.index, c.index)
    with pytest.raises(ValueError, match="holds 4000 unlabeled"):
        draw_design(p, 5000)


def test_the_design_spreads_draws_over_queries_with_the_shares_asked() -> None:
    """Every stratum gets its share (and at least two draws), each pair of a stratum the same inclusion
    probability of about n_h / N_h, and within a stratum the draws spread over the queries."""
    rng = np.random.default_rng(4)
    queries = np.repeat(np.arange(80), 10)  # 80 queries, 10 pairs each
    top = np.tile(np.arange(10) < 3, 80)  # 240 pairs
    emitted = np.tile(np.arange(10) == 9, 80) & (rng.random(800) < 0.1)  # a handful of pairs
    p = rng.random(800)
    d = draw_design(p, 100, seed=1, focus=[(top, 0.7), (emitted, 0.2)], groups=queries)
    h, small = d.stratum, int(emitted.sum())
    got = np.bincount(h, minlength=3)
    assert 2 <= small < 20 and got[1] == small  # all of a stratum too small for its share
    assert got.sum() == 100 and abs(got[0] / got[2] - 7) < 0.5  # what it leaves goes 7:1 to the others
    assert set(np.round(1 / d.q[h == 0]).tolist()) <= {240 // got[0], 240 // got[0] + 1}  # one pair per block
    per_query = np.bincount(queries[d.index[h == 0]], minlength=80)
    mixed = draw_design(p, 100, seed=1, focus=[(top, 0.7), (emitted, 0.2)])  # the queries in no order
    unspread = np.bincount(queries[mixed.index[mixed.stratum == 0]], minlength=80)
    assert per_query.max() <= 2 and per_query.var() < 0.6 * unspread.var()  # spread over the queries
    hits = np.zeros(800)
    for seed in range(400):  # inclusion probability n_h / N_h, checked by repetition
        hits[draw_design(p, 100, seed=seed, focus=[(top, 0.7), (emitted, 0.2)], groups=queries).index] += 1
    assert abs(hits[top].mean() / 400 - got[0] / 240) < 0.01 and hits[top].min() > 0


def test_query_spread_narrows_the_interval_where_queries_differ() -> None:
    """When the missing-positive rate differs between queries, drawing spread over the queries errs less than the
    same design with the queries in a random order, and the successive-difference variance credits part of it:
    narrower intervals, still covering."""
    rng = np.random.default_rng(6)
    queries = np.repeat(np.arange(100), 10)
    rate = rng.beta(0.5, 1.0, 100)[queries]  # queries differ a lot
    y = (rng.random(1000) < rate).astype(float)
    p = np.full(1000, 0.3)
    everything = np.ones(1000, dtype=bool)
    widths, errors, hits = {}, {}, []
    for name, groups in (("by query", queries), ("random", None)):
        w, e = [], []
        for seed in range(200):
            d = draw_design(p, 150, seed=seed, groups=groups)
            r = estimate_total(p, d, y[d.index], everything).rate(0.9)
            w.append(r["ci_high"] - r["ci_low"])
            e.append(abs(r["estimated_fn_rate"] - y.mean()))
            hits.append(r["ci_low"] <= y.mean() <= r["ci_high"])
        widths[name], errors[name] = np.mean(w), np.mean(e)
    assert errors["by query"] < 0.9 * errors["random"], errors  # 0.86 measured
    assert widths["by query"] < 0.96 * widths["random"], widths  # 0.93 measured
    assert np.mean(hits) >= 0.85


def _judgments(p: np.ndarray, y: np.ndarray, q: np.ndarray, rank: np.ndarray | None = None) -> Judgments:
    n = len(p)
    rank = np.full(n, 5) if rank is None else rank
    return Judgments(Path("v.jsonl"), [str(i) for i in range(n)], [str(i) for i in range(n)], p, q,
                     np.zeros(n, dtype=np.int64), np.arange(n), rank, y, "s", n)  # fmt: skip


def test_calibration_undoes_an_overconfident_detector() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 3000)
    y = (rng.random(3000) < p / 2).astype(float)  # the detector says twice the truth, at every rank
    calibration = calibrate(_judgments(p, y, np.full(3000, 1 / 3000), rng.integers(1, 101, 3000)))
    grid = np.array([0.2, 0.5, 0.9])
    for rank in (1, 50):
        assert np.allclose(calibration(grid, np.full(3, rank)), grid / 2, atol=0.08)
    assert np.isnan(calibration(np.array([np.nan]), np.ones(1)))[0]
    # the upper bound mining filters on lies above the fit, and closer to it the more pairs are judged
    few = calibrate(_judgments(p[:300], y[:300], np.full(300, 1 / 300), rng.integers(1, 101, 300)))
    gaps = [c(grid, np.full(3, 10), upper=0.9) - c(grid, np.full(3, 10)) for c in (few, calibration)]
    assert np.all(gaps[1] > 0) and np.all(gaps[0] > 2 * gaps[1]), gaps


def test_calibration_learns_the_rank_where_the_detector_says_nothing() -> None:
    """One positive per query: the detector's probability is flat while relevance falls with the rank. The fit on
    the probability alone would call every candidate as clean as the average; with the rank the hardest are not."""
    rng = np.random.default_rng(3)
    rank = rng.integers(1, 101, 3000)
    p = np.full(3000, 0.3)
    truth = 0.4 / np.sqrt(rank)  # 40% at rank 1, 4% at rank 100
    y = (rng.random(3000) < truth).astype(float)
    calibration = calibrate(_judgments(p, y, np.full(3000, 1 / 3000), rank))
    got = calibration(np.full(3, 0.3), np.array([1, 10, 100]))
    assert got[0] > 0.25 and got[2] < 0.07 and np.all(np.diff(got) < 0), got


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
                            "inclusion_probability", "stratum", "stratum_size", "position", "judgment"}  # fmt: skip
    for r in rows:  # each row's inclusion probability: one over its block's size, about N_h / n_h
        blocks = r["stratum_size"] / sum(s["stratum"] == r["stratum"] for s in rows)
        assert np.floor(blocks) <= 1 / r["inclusion_probability"] <= np.ceil(blocks)
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
    (lambda rows: [{**{k: v for k, v in r.items() if k not in ("stratum", "position")}, "draws": 1} for r in rows],
     r"filled.jsonl:1: a sample drawn with replacement by an earlier trueneg"),
    (lambda rows: [{**rows[0], "stratum": rows[0]["stratum"] + 1}, *rows[1:]], r"filled.jsonl: query .* in stratum"),
    (lambda rows: [{**rows[0], "position": "x"}, *rows[1:]], r"filled.jsonl:1: fields .*'rank' must be numbers"),
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
    for rank, row in info["upper_bound_at"].items():  # mining filters on the upper bound: at or above the fit
        assert all(row[g] >= info["calibrated_at"][rank][g] for g in row)
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
