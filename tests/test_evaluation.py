"""Retrieval evaluation: metrics plumbing on constructed rankings, and the CLI on a SciFact slice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.data import RetrievalData
from trueneg.evaluation import evaluate, evaluate_run

from .conftest import HashEncoder, scifact_slice

runner = CliRunner()


def test_metrics_by_hand_and_condensed_lists() -> None:
    qrels = {"q1": {"a": 1, "n": 0}, "q2": {"b": 2, "c": 1}}
    run = {
        "q1": {"u1": 0.9, "u2": 0.8, "a": 0.7, "n": 0.6},  # positive behind two unjudged documents
        "q2": {"b": 0.9, "c": 0.8},
    }
    result = evaluate_run(qrels, run)
    assert result.per_query["q1"]["mrr@10"] == pytest.approx(1 / 3)
    assert result.per_query["q1"]["ndcg@10"] == pytest.approx(1 / 2)  # 1/log2(3+1)
    assert result.per_query["q1"]["recall@100"] == 1.0
    assert result.per_query["q2"]["ndcg@10"] == pytest.approx(1.0)
    # judged only: the unjudged documents are removed, the positive is first
    assert result.per_query["q1"]["judged_only_mrr@10"] == 1.0
    assert result.judged_only["mrr@10"] == 1.0
    assert result.metrics["mrr@10"] == pytest.approx((1 / 3 + 1) / 2, abs=1e-5)


def test_evaluate_perfect_encoder() -> None:
    docs = ["red apple fruit", "blue ocean water", "green forest tree", "quantum physics lab"]
    data = RetrievalData(
        ["a", "b", "c", "d"],
        docs,
        ["q1", "q2"],
        ["red apple fruit", "ocean water blue"],
        {"q1": {"a": 1}, "q2": {"b": 1}},
    )
    result = evaluate(data, HashEncoder(), show_progress=False)
    assert result.metrics == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    with pytest.raises(ValueError, match="depth must be an integer of at least 100"):
        evaluate(data, HashEncoder(), depth=5, show_progress=False)


def test_cli_eval_json(tmp_path: Path, embedding_cache: Path) -> None:
    folder = scifact_slice(tmp_path / "beir", n_queries=25, extra_docs=60, split="test")
    res = runner.invoke(
        app, ["eval", "default", str(folder), "--split", "test", "--json", "-q", "--cache-dir", str(embedding_cache)]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"ndcg@10", "recall@100", "mrr@10", "judged_only"} <= set(out)
    assert out["queries"] == 25
    # a real model on real claims ranks cited abstracts well above chance in a 90-document corpus
    assert out["ndcg@10"] > 0.5 and out["recall@100"] == 1.0
    # SciFact's qrels hold no judged negative: judged-only metrics would rank positives only
    assert out["judged_only"] is None and "no judged negative" in out["judged_only_note"]
    res = runner.invoke(app, ["eval", "default", str(folder), "--split", "dev", "-q"])
    assert res.exit_code == 2 and "split 'dev' not found" in res.output
