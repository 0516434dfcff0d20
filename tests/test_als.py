"""False-negative-aware ALS on implicit's solver: relabeling, recommendations, a given test log, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.recommendation import FalseNegativeAwareALS, load_interactions, random_holdout, train_recommender
from trueneg.recommendation.als import weak_positives

from .test_recommendation import ML100K, _needs_ml

pytest.importorskip("implicit")


@pytest.fixture(scope="module")
def log():
    _needs_ml()
    full = load_interactions(ML100K)
    return full.subset(full.users < 300)


def test_relabels_only_unlabeled_pairs_and_recommends_none_of_the_interacted(log) -> None:
    model = FalseNegativeAwareALS(relabel_top=3, iterations=5).fit(log)
    weak = weak_positives(model, log)
    labeled = log.matrix().toarray().astype(bool)
    rows, cols = weak.nonzero()
    assert len(rows) == 3 * log.n_users and not labeled[rows, cols].any()  # never an interacted item
    assert model.relabeled_ == len(rows)
    users = np.array([0, 5, 5, 42])
    items, scores = model.recommend(users, n=10)
    assert items.shape == (4, 10) and np.array_equal(items[1], items[2])
    assert not labeled[np.repeat(users, 10), items.ravel()].any()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    with pytest.raises(ValueError, match="users must be indices"):
        model.recommend([log.n_users])


def test_without_weighting_it_is_implicits_als(log) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    ours = FalseNegativeAwareALS(fn_weighting=False, iterations=5, seed=3, num_threads=1).fit(log)
    ref = AlternatingLeastSquares(factors=64, regularization=0.1, alpha=1.0, iterations=5, random_state=3,
                                  num_threads=1)  # fmt: skip
    with threadpool_limits(1, "blas"):  # as FalseNegativeAwareALS runs it: BLAS threads change the last digits
        ref.fit(log.matrix().tocsr().astype(np.float32), show_progress=False)
    assert ours.relabeled_ == 0 and np.allclose(ours.user_factors_, ref.user_factors, atol=1e-5)


def test_relabeling_helps_on_a_random_holdout(log) -> None:
    split = random_holdout(log, 0.2, 0)
    kw = dict(model="als", test=None, split="random", seed=0, iterations=10)
    _, plain = train_recommender(log, fn_weighting=False, **kw)
    _, aware = train_recommender(log, fn_weighting=True, relabel_top=2, **kw)
    assert aware["ndcg@20"] > plain["ndcg@20"] and plain["train_interactions"] == len(split.train)
    assert aware["relabeled"] > 0 and {"recall@20", "ndcg@20", "fit_seconds"} <= set(aware)


def test_a_given_test_log_is_scored_in_the_training_ids(log, tmp_path: Path) -> None:
    users, items = log.user_ids[log.users], log.item_ids[log.items]
    train_rows = [f"{u}\t{i}\t5\t{n}" for n, (u, i) in enumerate(zip(users[:-200], items[:-200]))]
    test_rows = [f"{u}\t{i}\t5\t{n}" for n, (u, i) in enumerate(zip(users[-200:], items[-200:]))]
    test_rows.append("999999\t1\t5\t0")  # an unknown user
    (tmp_path / "train.data").write_text("\n".join(train_rows) + "\n")
    (tmp_path / "test.data").write_text("\n".join(test_rows) + "\n")
    runner = CliRunner()
    out = runner.invoke(app, ["recommend", "train", str(tmp_path / "train.data"), "--model", "als", "--test",
                              str(tmp_path / "test.data"), "--iterations", "5", "--json", "-q"])  # fmt: skip
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["split"] == "given test log" and summary["test_interactions_dropped"] >= 1
    assert summary["test_interactions"] <= 200 and summary["ndcg@20"] > 0
    bad = runner.invoke(app, ["recommend", "train", str(tmp_path / "train.data"), "--model", "svd", "-q"])
    assert bad.exit_code == 2 and "model must be one of mf, als" in bad.output
