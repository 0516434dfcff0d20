"""Rows that train as they are: `trueneg mine` output loads with `datasets` and trains in sentence-transformers'
trainer with MNRL unchanged; trueneg's extra fields live in a sidecar that `trueneg train` reads back; the Python
API answers in the shape it was given (Dataset, DataFrame) and MiningResult speaks the result vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.data import DataError, load_beir
from trueneg.mining import mine, mine_negatives
from trueneg.mining.result import sidecar_path
from trueneg.training import load_examples

from .conftest import HashEncoder, scifact_slice

runner = CliRunner()
datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("trueneg.candidates.pool.encoder_for", lambda *a, **k: HashEncoder())
        folder = tmp_path_factory.mktemp("st")
        data = scifact_slice(folder / "data", n_queries=30, extra_docs=80)
        out = {}
        for fmt in ("triplet", "n-tuple"):
            path = folder / f"{fmt}.jsonl"
            result = runner.invoke(app, ["mine", str(data), "-o", str(path), "--format", fmt, "-n", "3",
                                         "--max-fn-rate", "0.3", "--fn-action", "relabel",
                                         "--relabel-probability", "0.3", "-q"])  # fmt: skip
            assert result.exit_code == 0, result.output
            out[fmt] = path
        yield data, out


@pytest.mark.parametrize("fmt", ["triplet", "n-tuple"])
def test_rows_train_in_sentence_transformers_unchanged(mined, fmt: str, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    try:
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:  # sentence-transformers < 5.2
        from sentence_transformers.losses import MultipleNegativesRankingLoss

    from trueneg.candidates.encoders import load_model

    _, paths = mined
    dataset = datasets.load_dataset("json", data_files=str(paths[fmt]), split="train")
    expected = ["anchor", "positive", "negative"] if fmt == "triplet" else ["anchor", "positive", "negative_1",
                                                                              "negative_2", "negative_3"]
    assert dataset.column_names == expected  # nothing the trainer would take for a label or reject
    model = load_model(None, "cpu")
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path / "ckpt"), max_steps=2,
                                                per_device_train_batch_size=4, report_to="none", use_cpu=True,
                                                save_strategy="no", disable_tqdm=True)  # fmt: skip
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(model))  # fmt: skip
    assert trainer.train().global_step == 2


def test_trueneg_train_reads_the_sidecar(mined) -> None:
    _, paths = mined
    for fmt, path in paths.items():
        side = sidecar_path(path)
        assert side.is_file(), fmt
        examples = load_examples(path)
        assert examples.inferred is not None and examples.weights is not None, fmt  # read from the sidecar
        assert examples.negative_probabilities is not None
        rows = [json.loads(line) for line in side.read_text().splitlines()]
        assert all({"row", "anchor"} <= set(r) for r in rows)


def test_a_sidecar_from_another_run_is_refused_and_extra_columns_inline(mined, tmp_path: Path, monkeypatch) -> None:
    data, paths = mined
    path = tmp_path / "t.jsonl"
    path.write_text(paths["triplet"].read_text())
    rows = [json.loads(line) for line in sidecar_path(paths["triplet"]).read_text().splitlines()]
    rows[0]["anchor"] = "another query"
    sidecar_path(path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match="sidecar is from another run"):
        load_examples(path)
    monkeypatch.setattr("trueneg.candidates.pool.encoder_for", lambda *a, **k: HashEncoder())
    result = runner.invoke(app, ["mine", str(data), "-o", str(path), "--format", "triplet", "-n", "3",
                                 "--max-fn-rate", "0.3", "--extra-columns", "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not sidecar_path(path).exists()  # the stale sidecar of our earlier run is gone
    assert "negative_probability" in json.loads(path.read_text().splitlines()[0])


def test_python_api_answers_in_the_given_shape(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pairs = [{"query": f"what is topic {i}", "positive": f"topic {i} is a subject of study {i}"} for i in range(12)]
    corpus = [f"an unrelated text number {i}" for i in range(30)]
    options = dict(corpus=corpus, model=HashEncoder(), num_negatives=2, show_progress=False)
    as_dataset = mine(datasets.Dataset.from_list(pairs), **options)
    assert isinstance(as_dataset, datasets.Dataset) and "neg" in as_dataset.column_names
    as_frame = mine(pd.DataFrame(pairs), format="triplet", **options)
    assert isinstance(as_frame, pd.DataFrame) and list(as_frame.columns) == ["anchor", "positive", "negative"]
    assert isinstance(mine(pairs, **options), list)
    assert isinstance(mine(pairs, return_type="pandas", **options), pd.DataFrame)


def test_mining_result_speaks_the_result_vocabulary(mined, tmp_path: Path) -> None:
    data, _ = mined
    result = mine_negatives(load_beir(data), HashEncoder(), num_negatives=3, max_fn_rate=0.3, show_progress=False)
    records = result.to_records()
    assert records and set(records[0]) == {"query_id", "doc_id", "rank", "score", "negative_probability"}
    assert result.to_dict()["negatives"] == records and result.to_dict()["negatives_emitted"] == len(records)
    assert json.loads(result.write(tmp_path / "r.json").read_text())["negatives_emitted"] == len(records)
    written = result.write(tmp_path / "r.jsonl", "triplet")
    assert sum(1 for _ in written.open()) == len(result.to_rows("triplet"))
