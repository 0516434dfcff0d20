"""Settings chosen on the user's own data: relabeling is chosen where it helps and not where it hurts; EASE."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.recommendation import Interactions, load_interactions, train_recommender
from trueneg.recommendation.ease import EASE, check_ease_memory
from trueneg.recommendation.select import choose, validation_split

from .test_recommendation import ML100K, _needs_ml

pytest.importorskip("implicit")


def _log(users: np.ndarray, items: np.ndarray, source: str = "<planted>") -> Interactions:
    pairs = np.unique(np.c_[users, items], axis=0)
    n_users, n_items = int(pairs[:, 0].max()) + 1, int(pairs[:, 1].max()) + 1
    return Interactions(pairs[:, 0], pairs[:, 1], None, None, np.arange(n_users).astype(str),
                        np.arange(n_items).astype(str), source=source)  # fmt: skip


@pytest.fixture(scope="module")
def movielens() -> Interactions:
    _needs_ml()
    return load_interactions(ML100K)


def test_relabeling_is_chosen_where_it_helps(movielens: Interactions) -> None:
    # ML-100K under a random split: relabeling each user's likeliest missing positives raises ALS's NDCG
    # (bench/results/recommend_select.md); the validation split must see that and turn it on
    _, summary = train_recommender(movielens, model="als", split="random", iterations=8, seed=0)
    picked = summary["selection"]["fn_weighting"]
    assert picked["fits"] == 4 and picked["candidates"][0]["name"] == "add nothing"
    assert picked["chosen"] != "add nothing" and summary["fn_weighting"] is True and summary["relabeled"] > 0
    chosen = next(c for c in picked["candidates"] if c["chosen"])
    assert chosen["gain_low"] > 0 and chosen["name"] == picked["chosen"]
    _, plain = train_recommender(movielens, model="als", split="random", iterations=8, seed=0, fn_weighting="off")
    assert summary["ndcg@20"] > plain["ndcg@20"] and "selection" not in plain


def test_relabeling_is_not_chosen_where_it_hurts() -> None:
    # every user's items drawn at random: nothing is missing in a way the data can tell, so relabeling
    # only adds wrong positives; "add nothing" must stay
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(400), 25)
    items = rng.integers(0, 300, len(users))
    log = _log(users, items)
    for model in ("als", "ease"):
        _, summary = train_recommender(log, model=model, split="random", seed=0, **({"l2": 100.0} if model == "ease"
                                                                                     else {"iterations": 5}))
        picked = summary["selection"]["fn_weighting"]
        assert picked["chosen"] == "add nothing" and summary["fn_weighting"] is False and summary["relabeled"] == 0
        assert all(c["gain"] <= 0 or c["gain_low"] <= 0 for c in picked["candidates"][1:])


def test_ease_closed_form_by_hand() -> None:
    log = _log(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 2, 0, 2]))
    model = EASE(l2=0.5).fit(log)
    X = log.matrix().toarray().astype(float)
    P = np.linalg.inv(X.T @ X + 0.5 * np.eye(3))
    B = np.eye(3) - P / np.diag(P)[None, :]
    assert np.allclose(model.weights_, B, atol=1e-6) and np.allclose(np.diag(model.weights_), 0)
    assert np.allclose(model.predict_scores(), X @ B, atol=1e-5)


def test_ease_beats_popularity_and_chooses_its_penalty(movielens: Interactions) -> None:
    small = movielens.subset(movielens.users < 300)
    _, summary = train_recommender(small, model="ease", split="random", seed=0, fn_weighting="off")
    assert [c["name"] for c in summary["selection"]["l2"]["candidates"]][:2] == ["l2 50", "l2 200"]
    assert summary["l2"] in (50.0, 200.0, 500.0, 1000.0, 3000.0)
    popularity = np.broadcast_to(np.bincount(small.items, minlength=small.n_items), (small.n_users, small.n_items))

    class Popular:
        def fit(self, train):
            return self

        def predict_scores(self):
            return popularity

    inner = validation_split(small, "random", 0.2, seed=0)
    ranked = choose(lambda **p: Popular() if p["popular"] else EASE(l2=summary["l2"]),
                    [("popular", {"popular": True}), ("ease", {"popular": False})], inner, guard=True)  # fmt: skip
    assert ranked.chosen == "ease"


def test_bad_input_says_what_is_short() -> None:
    with pytest.raises(ValueError, match=r"about 223.5 GiB for its 100000 x 100000 .* fits up to about 6688 items"):
        check_ease_memory(100_000, budget=2**30)
    one_item = _log(np.arange(5), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="1 item: a recommender needs at least 2"):
        train_recommender(one_item, model="als")
    pairs = _log(np.repeat(np.arange(30), 2), np.tile([0, 1], 30) + np.repeat(np.arange(30) % 5, 2))
    with pytest.raises(ValueError, match="no user has 2 or more training interactions, so no validation split"):
        train_recommender(pairs, model="als", split="leave-last-out")
    singles = _log(np.arange(30), np.arange(30) % 7)
    with pytest.raises(ValueError, match="no user has 2 or more interactions, so the random split holds out nothing"):
        train_recommender(singles, model="als", split="random")
    with pytest.raises(ValueError, match="fn_weighting must be auto, on or off"):
        train_recommender(_log(np.repeat(np.arange(20), 5), np.arange(100) % 17), model="als", fn_weighting="maybe")


def test_cli_reports_the_choice(movielens: Interactions, tmp_path) -> None:
    small = tmp_path / "log.csv"
    keep = movielens.users < 200
    pairs = zip(movielens.users[keep], movielens.items[keep])
    small.write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in pairs))
    out = CliRunner().invoke(app, ["recommend", "train", str(small), "--model", "ease", "--split", "random", "--json",
                                   "-q", "-o", str(tmp_path / "ease.npz")])  # fmt: skip
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert set(summary["selection"]) == {"l2", "fn_weighting"} and summary["selection"]["l2"]["fits"] == 5
    assert np.load(tmp_path / "ease.npz")["weights"].shape == (summary["items"], summary["items"])
    plain = CliRunner().invoke(app, ["recommend", "train", str(small), "--model", "ease", "--split", "random",
                                     "--json", "-q", "--no-fn-weighting", "--l2", "500"])  # fmt: skip
    assert plain.exit_code == 0 and "selection" not in json.loads(plain.stdout)
    bad = CliRunner().invoke(app, ["recommend", "train", str(small), "--fn-weighting", "maybe", "--model", "als"])
    assert bad.exit_code == 2 and "fn_weighting must be auto, on or off" in bad.output
