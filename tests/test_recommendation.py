"""Implicit feedback: loading and validation, splits, samplers, PU estimate, MF training, metrics, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.conftest import SHARED
from trueneg.cli import app
from trueneg.data import DataError
from trueneg.recommendation import (
    SAMPLERS,
    Interactions,
    MatrixFactorization,
    audit_interactions,
    draw_negatives,
    evaluate_topk,
    find_missing_positives,
    fit_missing_positives,
    leave_last_out,
    load_interactions,
    make_sampler,
    random_holdout,
)
from trueneg.recommendation.missing import PairFeatures, average_precision, pair_membership

ML100K = SHARED / "ml-100k"


def _needs_ml() -> None:
    if not (ML100K / "u.data").is_file():
        pytest.skip("../shared/data/ml-100k not present")


@pytest.fixture(scope="module")
def ml_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The events of MovieLens users 1..150 as a tab-separated u.data file (no catalogues beside it)."""
    _needs_ml()
    lines = [line for line in (ML100K / "u.data").read_text().splitlines() if int(line.split("\t")[0]) <= 150]
    path = tmp_path_factory.mktemp("ml") / "u.data"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def ml_full() -> Interactions:
    _needs_ml()
    return load_interactions(ML100K)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- loading and validation ---------------------------------------------------------------------------------


def test_movielens_folder_loads_with_catalogues(ml_full: Interactions) -> None:
    assert (ml_full.n_users, ml_full.n_items, len(ml_full)) == (943, 1682, 100_000)
    assert ml_full.user_ids[0] == "1" and ml_full.item_ids[-1] == "1682"  # catalogue order, not string order
    first = (ML100K / "u.data").read_text().splitlines()[0].split("\t")
    at = np.flatnonzero((ml_full.user_ids[ml_full.users] == first[0]) & (ml_full.item_ids[ml_full.items] == first[1]))
    assert len(at) == 1 and ml_full.ratings[at[0]] == float(first[2]) and ml_full.timestamps[at[0]] == int(first[3])


def test_csv_tsv_parquet_read_the_same_log(ml_slice: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = load_interactions(ml_slice)
    rows = [line.split("\t") for line in ml_slice.read_text().splitlines()]
    _write(tmp_path / "log.csv", "userId,movieId,rating,timestamp\n" + "\n".join(",".join(r) for r in rows) + "\n")
    _write(tmp_path / "log.tsv", "user\titem\trating\ttime\n" + "\n".join("\t".join(r) for r in rows) + "\n")
    table = {"user_id": [r[0] for r in rows], "item_id": [int(r[1]) for r in rows], "rating": [int(r[2]) for r in rows]}
    pq.write_table(pa.table(table), tmp_path / "log.parquet")
    for name in ("log.csv", "log.tsv", "log.parquet"):
        other = load_interactions(tmp_path / name)
        pairs = lambda d: sorted(zip(d.user_ids[d.users], d.item_ids[d.items]))  # noqa: E731
        assert pairs(other) == pairs(base), name
    assert load_interactions(tmp_path / "log.parquet").timestamps is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user,item\n1,10\n2,20,5\n", "log.csv:3: expected 2 fields"),
        ("user,item,rating\n1,10,4\n2,20,five\n", "log.csv:3: field 'rating': expected a number, got 'five'"),
        ("user,item\n1,10\n ,20\n", "log.csv:3: field 'user': empty id"),
        ("user,item,timestamp\n1,10,5\n1,11,6\n1,10,5\n", "log.csv:4: duplicate event: user '1', item '10'"),
        ("user,item,timestamp\n1,10,5.5\n", "log.csv:2: field 'timestamp': expected an integer"),
        ("person,item\n1,10\n", "log.csv:1: no user column"),
        ("user,item\n", "no interactions"),
    ],
)
def test_malformed_logs_name_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        load_interactions(_write(tmp_path / "log.csv", text))


def test_unknown_ids_and_bad_utf8_are_located(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    _write(folder / "u.data", "1\t1\t5\t100\n1\t7\t3\t101\n")
    _write(folder / "u.item", "1|Toy Story|x\n2|GoldenEye|y\n")
    with pytest.raises(DataError, match=r"u.data:2: field 'item': unknown id '7'"):
        load_interactions(folder)
    (tmp_path / "bad.tsv").write_bytes(b"user\titem\n1\t2\n3\t\xff\n")
    with pytest.raises(DataError, match=r"bad.tsv:3: not valid UTF-8"):
        load_interactions(tmp_path / "bad.tsv")


def test_repeated_pairs_collapse_to_the_latest_event(tmp_path: Path) -> None:
    log = load_interactions(_write(tmp_path / "log.csv", "user,item,rating,timestamp\n1,a,2,10\n1,a,5,30\n2,a,1,5\n"))
    assert len(log) == 2 and log.collapsed == 1
    assert log.ratings[log.users == 0].tolist() == [5.0]


def test_min_rating_keeps_only_liked_events(ml_slice: Path) -> None:
    liked = load_interactions(ml_slice, min_rating=4)
    everything = load_interactions(ml_slice)
    assert 0 < len(liked) < len(everything) and liked.ratings.min() >= 4


# --- splits ------------------------------------------------------------------------------------------------


def test_leave_last_out_holds_out_each_users_latest_event(ml_slice: Path) -> None:
    log = load_interactions(ml_slice)
    split = leave_last_out(log, seed=0)
    assert len(split.train) + len(split.test) == len(log)
    assert np.array_equal(np.sort(split.test.users), np.unique(log.users))  # one per user (all have >= 20 here)
    latest = np.zeros(log.n_users, dtype=np.int64)
    np.maximum.at(latest, log.users, log.timestamps)
    assert np.array_equal(split.test.timestamps, latest[split.test.users])
    assert not pair_membership(split.train, split.test.users, split.test.items).any()


def test_random_holdout_fraction_per_user(ml_slice: Path) -> None:
    log = load_interactions(ml_slice)
    split = random_holdout(log, 0.2, seed=3)
    sizes = np.bincount(log.users)
    held = np.bincount(split.test.users, minlength=log.n_users)
    assert np.array_equal(held, np.minimum(np.round(0.2 * sizes), sizes - 1).astype(int))
    assert not np.array_equal(split.test.items, random_holdout(log, 0.2, seed=4).test.items)
    with pytest.raises(ValueError, match="fraction"):
        random_holdout(log, 1.5)


# --- samplers -----------------------------------------------------------------------------------------------


def _fitted_model(train: Interactions, seed: int = 0) -> MatrixFactorization:
    return MatrixFactorization(epochs=2, factors=8, seed=seed).fit(train)


logs = st.tuples(st.integers(4, 12), st.integers(8, 30), st.floats(0.15, 0.6), st.integers(0, 10_000))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=logs, name=st.sampled_from(sorted(SAMPLERS)), n=st.integers(1, 4))
def test_no_labeled_interaction_is_ever_sampled_as_a_negative(shape, name: str, n: int) -> None:
    n_users, n_items, density, seed = shape
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[:, 0] = True  # every user has an interaction
    mask[:, -1] = False  # ... and at least one unlabeled item
    users, items = np.nonzero(mask)
    train = Interactions(users, items, None, None, np.arange(n_users).astype(str), np.arange(n_items).astype(str))
    kwargs = {"range_max": 5, "max_probability": 0.2} if name == "fn-aware" else {}
    kwargs |= {"range_max": 5} if name == "hard" else {}
    negatives, _ = draw_negatives(train, name, _fitted_model(train, seed), n, seed, **kwargs)
    assert negatives.shape == (len(train), n)
    assert ((negatives >= 0) & (negatives < n_items)).all()
    assert not mask[np.repeat(users, n), negatives.ravel()].any()


def test_samplers_are_seeded_and_reject_users_without_negatives(ml_slice: Path) -> None:
    train = load_interactions(ml_slice)
    model = _fitted_model(train)
    for name in SAMPLERS:
        a, _ = draw_negatives(train, name, model, 2, seed=5)
        b, _ = draw_negatives(train, name, model, 2, seed=5)
        c, _ = draw_negatives(train, name, model, 2, seed=6)
        assert np.array_equal(a, b) and not np.array_equal(a, c), name
    full = Interactions(
        np.array([0, 0, 1]), np.array([0, 1, 0]), None, None, np.array(["u", "v"]), np.array(["a", "b"])
    )
    with pytest.raises(ValueError, match="user 'u' interacted with every item"):
        make_sampler("uniform").fit(full)
    with pytest.raises(ValueError, match="sampler must be one of"):
        make_sampler("nearest")
    with pytest.raises(ValueError, match="call refresh"):
        make_sampler("hard").fit(train).sample(train.users[:3], train.items[:3], np.random.default_rng(0))


def test_hard_sampler_stays_in_its_rank_window(ml_slice: Path) -> None:
    train = load_interactions(ml_slice)
    model = _fitted_model(train)
    negatives, sampler = draw_negatives(train, "hard", model, 3, seed=0, range_min=5, range_max=15)
    scores = model.predict_scores()
    masked = np.where(sampler.mask_, -np.inf, scores)
    rank = (masked[train.users][:, None, :] > scores[train.users[:, None], negatives][:, :, None]).sum(2)
    assert rank.min() >= 5 and rank.max() < 15


def test_fn_aware_sampler_draws_fewer_hidden_positives_than_hard(ml_full: Interactions) -> None:
    """Hidden-positive protocol on ML-100K: hide 30% of every user's interactions, count them among negatives."""
    split = random_holdout(ml_full, 0.3, seed=0)
    model = MatrixFactorization(epochs=5, seed=0).fit(split.train)
    rates = {}
    for name in ("uniform", "hard", "fn-aware"):
        negatives, _ = draw_negatives(
            split.train, name, model, 1, seed=0, **({} if name == "uniform" else {"range_max": 50})
        )
        rates[name] = pair_membership(split.test, split.train.users, negatives[:, 0]).mean()
    assert rates["uniform"] < rates["fn-aware"] < 0.6 * rates["hard"], rates


# --- PU estimate --------------------------------------------------------------------------------------------


def test_pair_features_of_a_labeled_pair_equal_those_of_the_pair_left_out(ml_slice: Path) -> None:
    log = load_interactions(ml_slice)
    features = PairFeatures(log)
    for k in np.random.default_rng(0).choice(len(log), 5, replace=False):
        keep = np.ones(len(log), dtype=bool)
        keep[k] = False
        inside, labeled = features.pairs(log.users[[k]], log.items[[k]])
        outside, unlabeled = PairFeatures(log.subset(keep)).pairs(log.users[[k]], log.items[[k]])
        assert labeled[0] and not unlabeled[0]
        np.testing.assert_allclose(inside, outside, rtol=1e-5, atol=1e-6)


def test_missing_positive_estimate_recovers_hidden_interactions(ml_full: Interactions) -> None:
    split = random_holdout(ml_full, 0.3, seed=0)
    model = fit_missing_positives(split.train, seed=0, n_bootstrap=10)
    unlabeled = ml_full.n_users * ml_full.n_items - len(split.train)
    true_rate = len(split.test) / unlabeled
    probability = model.probability_matrix()
    estimated = float(np.nanmean(probability))
    assert abs(estimated - true_rate) < 0.5 * true_rate, (estimated, true_rate)
    assert model.label_frequency_ci[0] - 0.1 < 0.7 < model.label_frequency_ci[1] + 0.1
    suspects = find_missing_positives(model, top=500)
    assert np.all(np.diff(suspects.probability) <= 0)
    assert not pair_membership(split.train, suspects.users, suspects.items).any()
    precision = pair_membership(split.test, suspects.users, suspects.items).mean()
    assert precision > 10 * true_rate, precision


def test_average_precision_by_hand() -> None:
    assert math.isclose(average_precision(np.array([True, False, True]), 2), (1 + 2 / 3) / 2)
    assert average_precision(np.array([False]), 0) == 0.0


# --- model and metrics --------------------------------------------------------------------------------------


def test_evaluate_topk_by_hand() -> None:
    ids = np.array(["a", "b"])
    train = Interactions(np.array([0]), np.array([0]), None, None, ids, np.array(["i0", "i1", "i2", "i3"]))
    test = Interactions(np.array([0, 0, 1]), np.array([2, 3, 1]), None, None, ids, train.item_ids)
    scores = np.array([[9.0, 1.0, 2.0, 0.5], [0.0, 1.0, 3.0, 2.0]])  # user 0's item 0 is a training item
    out = evaluate_topk(scores, train, test, k=2)
    # user 0 ranks i2 (hit), i1; user 1 ranks i2, i3 (no hit)
    ndcg_u0 = 1.0 / (1 + 1 / math.log2(3))
    assert math.isclose(out["recall@2"], (0.5 + 0.0) / 2, abs_tol=1e-5)
    assert math.isclose(out["ndcg@2"], ndcg_u0 / 2, abs_tol=1e-5)
    with pytest.raises(ValueError, match="scores must be"):
        evaluate_topk(scores[:1], train, test)


@pytest.mark.parametrize(("loss", "sampler"), [("bpr", "uniform"), ("bpr", "fn-aware"), ("relmf", "uniform")])
def test_training_beats_popularity_and_is_reproducible(ml_slice: Path, loss: str, sampler: str) -> None:
    split = leave_last_out(load_interactions(ml_slice), seed=0)
    params = dict(loss=loss, sampler=sampler, epochs=10, seed=1)
    model = MatrixFactorization(**params).fit(split.train)
    again = MatrixFactorization(**params).fit(split.train)
    assert np.array_equal(model.predict_scores(), again.predict_scores())
    assert model.history_[-1] < model.history_[0]
    random = np.random.default_rng(0).random(model.predict_scores().shape)
    assert evaluate_topk(model.predict_scores(), split.train, split.test)["recall@20"] > 1.5 * max(
        evaluate_topk(random, split.train, split.test)["recall@20"], 0.01
    )


def test_model_rejects_bad_parameters(ml_slice: Path) -> None:
    train = load_interactions(ml_slice)
    with pytest.raises(ValueError, match="loss must be one of"):
        MatrixFactorization(loss="hinge").fit(train)
    with pytest.raises(ValueError, match="range_min < range_max"):
        MatrixFactorization(sampler="hard", sampler_kwargs={"range_min": 5, "range_max": 5}).fit(train)


def test_audit_reports_per_sampler_shares(ml_slice: Path, tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    log = load_interactions(ml_slice)
    result = audit_interactions(log, n_suspects=20)
    summary = result.summary
    # the shared result vocabulary: records carry the log's ids without passing the log again
    model = fit_missing_positives(log, seed=0, n_bootstrap=2)
    found = find_missing_positives(model, top=5, data=log)
    assert found.to_records() == found.to_records(log) and found.to_records()[0]["user"] in set(log.user_ids)
    assert found.to_dict()["suspects"] == found.to_records()
    assert result.to_records() == summary["suspects"] and result.to_dict() == summary
    assert json.loads(result.write(tmp_path / "audit.json").read_text()) == summary
    assert pq.read_table(result.write(tmp_path / "suspects.parquet")).to_pylist() == summary["suspects"]
    shares = {name: v["estimated_fn_share"] for name, v in summary["samplers"].items()}
    assert shares["fn-aware"] < shares["hard"] and shares["uniform"] < shares["hard"]
    assert (
        len(summary["suspects"]) == 20
        and summary["suspects"][0]["probability"] >= summary["suspects"][-1]["probability"]
    )
    assert 0 < summary["estimated_missing_rate"] < 0.5


# --- CLI ----------------------------------------------------------------------------------------------------


def test_cli_train_negatives_audit(ml_slice: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(
        app, ["recommend", "train", str(ml_slice), "--epochs", "3", "--json", "-q", "-o", str(tmp_path / "mf.npz")]
    )
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["users"] == 150 and 0 < summary["ndcg@20"] <= 1 and summary["sampler"] in ("uniform", "fn-aware")
    picked = summary["selection"]["sampler"]
    assert picked["fits"] == 2 and [c["name"] for c in picked["candidates"]] == ["uniform sampler", "fn-aware sampler"]
    factors = np.load(tmp_path / "mf.npz")
    assert factors["user_factors"].shape == (150, 64) and len(factors["item_ids"]) == summary["items"]

    rows_path = tmp_path / "neg.jsonl"
    out = runner.invoke(app, ["recommend", "negatives", str(ml_slice), "-o", str(rows_path), "-n", "3", "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    liked = {(r["user"], r["item"]) for r in rows}
    assert len(rows) == len(load_interactions(ml_slice))
    assert all(len(r["negatives"]) == 3 and not any((r["user"], n) in liked for n in r["negatives"]) for r in rows)

    out = runner.invoke(
        app, ["recommend", "audit", str(ml_slice), "-o", str(tmp_path / "audit.json"), "--suspects", "5"]
    )
    assert out.exit_code == 0, out.output
    assert len(json.loads((tmp_path / "audit.json").read_text())["suspects"]) == 5


def test_cli_bad_input_fails_and_writes_nothing(tmp_path: Path) -> None:
    bad = _write(tmp_path / "log.csv", "user,item,rating\n1,10,4\n2,20,oops\n")
    target = tmp_path / "neg.jsonl"
    out = CliRunner().invoke(app, ["recommend", "negatives", str(bad), "-o", str(target)])
    assert out.exit_code == 2 and "log.csv:3: field 'rating'" in out.output
    assert not target.exists() and list(tmp_path.iterdir()) == [bad]


def test_score_is_a_deprecated_alias_of_predict_scores() -> None:
    from sklearn.exceptions import NotFittedError

    log = Interactions(
        np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 0]), None, None, np.array(["u1", "u2", "u3"]),
        np.array(["a", "b", "c"]),
    )  # fmt: skip
    model = MatrixFactorization(factors=4, epochs=2, seed=0)
    with pytest.raises(NotFittedError):
        model.predict_scores()
    model.fit(log)
    with pytest.warns(DeprecationWarning, match="use predict_scores"):
        old = model.score()
    assert np.array_equal(old, model.predict_scores()) and old.shape == (3, 3)
