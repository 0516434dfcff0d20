"""Configuration objects, encoder objects, the typed summary and the shared result vocabulary.

The same run from a config or from keywords; errors that name the option; CLI defaults read from the
configs; the deprecated spellings still give the same results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer

from trueneg.audit import AuditConfig, audit
from trueneg.candidates.encoders import SentenceTransformerEncoder
from trueneg.candidates.pool import retrieve_candidates
from trueneg.cli.audit import audit as audit_command
from trueneg.cli.mine import mine as mine_command
from trueneg.cli.train import train_model as train_command
from trueneg.data import load_beir
from trueneg.mining import MiningConfig, MiningSummary, ScaleConfig, mine_negatives, mine_pool
from trueneg.training import LOSSES, TrainConfig

from .conftest import HashEncoder

DEMO = Path(__file__).resolve().parents[1] / "trueneg" / "data" / "demo"


def test_config_and_keywords_mine_the_same_negatives() -> None:
    data = load_beir(DEMO, "train")
    config = MiningConfig(num_negatives=3, retriever="sparse", sampling="random", seed=4, near_duplicate=None)
    from_config = mine_negatives(data, config=config, show_progress=False)
    from_keywords = mine_negatives(
        data, num_negatives=3, retriever="sparse", sampling="random", seed=4, near_duplicate=None, show_progress=False
    )
    assert np.array_equal(from_config.negatives, from_keywords.negatives)
    # a keyword overrides the config
    other = mine_negatives(data, config=config, seed=5, show_progress=False)
    assert not np.array_equal(other.negatives, from_config.negatives)
    assert other.summary["num_negatives"] == 3


def test_config_is_validated_and_names_the_option() -> None:
    with pytest.raises(ValueError, match="sampling must be one of top, random, simans; got 'best'"):
        MiningConfig(sampling="best")
    with pytest.raises(ValueError, match="range_min < range_max"):
        MiningConfig(range_min=5, range_max=5)
    with pytest.raises(ValueError, match=r"max_fn_rate must be in \[0, 1\]"):
        MiningConfig().replace(max_fn_rate=2.0)
    with pytest.raises(TypeError, match="unknown mining option.*num_negative\\b"):
        mine_negatives(load_beir(DEMO, "train"), num_negative=3)
    assert MiningConfig(num_negatives=4).window == (0, 40)
    assert MiningConfig(range_min=2, range_max=9).to_dict()["range_max"] == 9


def _cli_defaults(command) -> dict[str, object]:
    import inspect

    return {
        name: p.default.default
        for name, p in inspect.signature(command).parameters.items()
        if isinstance(p.default, typer.models.OptionInfo)
    }


@pytest.mark.parametrize(
    ("command", "config", "renamed", "least"),
    [
        (mine_command, MiningConfig(), {}, 15),
        (mine_command, ScaleConfig(), {}, 1),
        (audit_command, AuditConfig(), {"suspects": "n_suspects"}, 8),
        (audit_command, ScaleConfig(), {}, 1),
        (train_command, TrainConfig(), {"lr": "learning_rate"}, 14),
        (mine_command, SentenceTransformerEncoder(), {}, 2),
    ],
)
def test_cli_defaults_are_the_library_defaults(command, config, renamed, least) -> None:
    """Every CLI option named like a setting defaults to the library's default (written once)."""
    settings = vars(config) if isinstance(config, SentenceTransformerEncoder) else config.to_dict()
    checked = 0
    for name, default in _cli_defaults(command).items():
        field = renamed.get(name, name)
        if field in settings and default is not None:
            assert default == settings[field], (command.__name__, name)
            checked += 1
    assert checked >= least


def test_train_and_audit_configs_validate_and_name_the_option() -> None:
    assert set(TrainConfig.CHOICES["loss"]) == set(LOSSES)  # the light config agrees with the loss table
    with pytest.raises(ValueError, match="guide must be one of self, base, probability; got 'teacher'"):
        TrainConfig(guide="teacher")
    with pytest.raises(ValueError, match="batch_size must be at least 2, got 1"):
        TrainConfig(batch_size=1)
    with pytest.raises(TypeError, match="unknown training option.*learning_rat\\b"):
        TrainConfig.build(learning_rat=1e-4)
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 20\], got 30"):
        AuditConfig(depth=20, top_k=30)
    with pytest.raises(ValueError, match="estimator must be one of roc, tice, elkan-noto, km2"):
        AuditConfig(estimator="mean")
    with pytest.raises(ValueError, match="index must be one of auto, exact, ivf, ivfpq, hnsw"):
        ScaleConfig(index="flat")
    with pytest.raises(TypeError, match="config must be a MiningConfig, got AuditConfig"):
        MiningConfig.build(AuditConfig())
    mining = AuditConfig(num_negatives=4, max_fn_rate=0.1, estimator="tice").mining()
    assert mining.detects and mining.fn_estimator == "tice" and mining.window == (0, 40)


def test_mine_pool_is_mine_negatives_on_a_given_pool() -> None:
    data = load_beir(DEMO, "train")
    config = MiningConfig(num_negatives=3, max_fn_rate=0.1, fn_action="relabel")
    whole = mine_negatives(data, HashEncoder(), config, show_progress=False)
    pool = retrieve_candidates(data, HashEncoder(), depth=config.window[1], show_progress=False)
    staged = mine_pool(data, pool, config, show_progress=False)
    assert np.array_equal(whole.negatives, staged.negatives)
    assert whole.inferred_ids() == staged.inferred_ids() and whole.inferred_ids()
    assert whole.summary["false_negatives"] == staged.summary["false_negatives"]
    assert whole.summary["dropped"] == staged.summary["dropped"]


def test_encoder_object_replaces_the_encoder_settings() -> None:
    """An Encoder carries its settings; the old keywords give the same run with a DeprecationWarning."""
    data = load_beir(DEMO, "train")

    class Model:  # a stand-in for a loaded SentenceTransformer (its encode signature), fast and offline
        def encode(self, texts, prompt=None, **kwargs):
            return HashEncoder().encode([(prompt or "") + t for t in texts], "document")

    encoder = SentenceTransformerEncoder(Model(), query_prompt="query: ", cache_dir=False, show_progress=False)
    new = mine_negatives(data, encoder, num_negatives=3, show_progress=False)
    assert new.to_rows()[0]["prompt"] == "query: " and new.summary["backend"] == "torch"
    with pytest.warns(DeprecationWarning, match=r"model=SentenceTransformerEncoder\(model, query_prompt='query: '\)"):
        old = mine_negatives(data, HashEncoder(), num_negatives=3, query_prompt="query: ", show_progress=False)
    assert old.to_rows()[0]["prompt"] == "query: "
    with pytest.raises(ValueError, match="backend must be one of torch, onnx-int8; got 'onnx'"):
        SentenceTransformerEncoder(backend="onnx")
    with pytest.raises(ValueError, match="no such model folder"):
        mine_negatives(data, "./no/such/model", show_progress=False)


def test_summary_is_typed_merges_and_reads_like_its_json() -> None:
    import json

    data = load_beir(DEMO, "train")
    result = mine_negatives(data, HashEncoder(), num_negatives=3, show_progress=False)
    summary = result.summary
    assert isinstance(summary, MiningSummary)
    as_json = json.loads(json.dumps(summary.to_dict()))
    assert list(as_json) == list(summary) and as_json["scores"] == summary["scores"] == summary.scores
    assert {**summary}["negatives_emitted"] == summary.negatives_emitted
    merged = MiningSummary.merge([summary, summary])
    assert merged["negatives_emitted"] == 2 * summary["negatives_emitted"]
    assert merged["dropped"] == {k: 2 * v for k, v in summary["dropped"].items()}
    assert merged["scores"]["negative"]["count"] == 2 * summary["scores"]["negative"]["count"]
    assert merged["scores"]["negative"]["mean"] == summary["scores"]["negative"]["mean"]
    with pytest.raises(KeyError):
        summary["values"]  # the raw arrays are not part of the written summary


def test_audit_result_speaks_the_shared_vocabulary(tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    data = load_beir(DEMO, "train")
    result = audit(data, HashEncoder(), AuditConfig(depth=30, n_suspects=7), show_progress=False)
    records = result.to_records()
    assert len(records) == 7 and records[0]["probability"] >= records[-1]["probability"]
    (json_path,) = result.write(tmp_path / "audit.json")
    assert json.loads(json_path.read_text()) == result.to_dict()
    assert pq.read_table(result.write(tmp_path / "suspects.parquet")[0]).to_pylist() == records
    html_path, folder_json = result.write(tmp_path / "report")
    assert html_path.name == "report.html" and folder_json.read_text() == json_path.read_text()
    with pytest.raises(ValueError, match="not a folder"):
        result.write(json_path / "x")


def test_cli_defaults_of_the_other_commands_equal_the_library_defaults() -> None:
    """The other commands read their defaults from the library's source (trueneg.cli.options.default_of): equal."""
    import inspect

    from trueneg.cli.recommend import recommend_audit, recommend_negatives_cmd, recommend_train
    from trueneg.cli.train import evaluate_model, labels
    from trueneg.evaluation import evaluate
    from trueneg.labels import find_label_issues
    from trueneg.recommendation import MatrixFactorization, audit_interactions, recommend_negatives, train_recommender
    from trueneg.recommendation.als import FalseNegativeAwareALS
    from trueneg.recommendation.samplers import FalseNegativeAwareSampler

    def signature(function) -> dict[str, object]:
        return {k: v.default for k, v in inspect.signature(function).parameters.items()}

    sampler = FalseNegativeAwareSampler().get_params()
    library = {
        labels: signature(find_label_issues),
        evaluate_model: signature(evaluate),
        recommend_train: {
            **sampler,
            **FalseNegativeAwareALS().get_params(),
            **MatrixFactorization().get_params(),
            **signature(train_recommender),
            "sampler": "auto",  # what trueneg adds is chosen on validation (fit_recommender)
            "fn_weighting": "auto",
        },  # fmt: skip
        recommend_negatives_cmd: {**sampler, **signature(recommend_negatives)},
        recommend_audit: {**signature(audit_interactions), "suspects": signature(audit_interactions)["n_suspects"]},
    }
    # the CLI chooses the sampler on validation by default; MatrixFactorization's own default is uniform
    assert MatrixFactorization().sampler == "uniform"
    checked = 0
    for command, defaults in library.items():
        for name, default in _cli_defaults(command).items():
            if name in defaults and default is not None:
                assert default == defaults[name], (command.__name__, name)
                checked += 1
    assert checked >= 20
