"""End to end on real SciFact slices with the offline all-MiniLM-L6-v2 model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import trueneg
from trueneg.candidates.encoders import SentenceTransformerEncoder
from trueneg.cli import app
from trueneg.data import load_beir, normalize_text
from trueneg.mining import mine_negatives

from .conftest import scifact_slice

runner = CliRunner()


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scifact_slice(tmp_path_factory.mktemp("scifact") / "beir", n_queries=30, extra_docs=120)


@pytest.fixture(scope="module")
def cache_dir(embedding_cache: Path) -> Path:
    return embedding_cache


def test_mine_real_slice_excludes_positives_and_respects_filter(slice_dir: Path, cache_dir: Path) -> None:
    data = load_beir(slice_dir, "train")
    result = mine_negatives(data, num_negatives=5, perc_pos=0.95, cache_dir=cache_dir, show_progress=False)
    assert result.summary["queries"] == 30
    assert result.summary["negatives_emitted"] > 100
    for qi, qid in enumerate(result.query_ids):
        positives = {d for d, g in data.qrels[qid].items() if g > 0}
        pos_texts = {normalize_text(data.doc_texts[data.doc_index(d)]) for d in positives}
        anchor = result.positive_scores[qi].min()
        for d, s in zip(result.negatives[qi], result.negative_scores[qi]):
            if d < 0:
                continue
            assert data.doc_ids[d] not in positives
            assert normalize_text(data.doc_texts[d]) not in pos_texts
            assert s <= anchor - 0.05 * abs(anchor) + 1e-6
        scores = result.negative_scores[qi][result.negatives[qi] >= 0]
        assert np.all(np.diff(scores) <= 1e-6)  # "top" sampling: hardest first
    # real cosine scores: positives score clearly higher than the kept negatives on average
    assert result.summary["scores"]["positive"]["mean"] > result.summary["scores"]["negative"]["mean"] + 0.1


def test_cache_means_second_run_encodes_nothing(slice_dir: Path, cache_dir: Path) -> None:
    data = load_beir(slice_dir, "train")
    first = mine_negatives(data, num_negatives=5, cache_dir=cache_dir, show_progress=False)
    second = mine_negatives(data, num_negatives=5, cache_dir=cache_dir, show_progress=False)
    assert second.summary["texts_encoded"] == 0
    assert np.array_equal(first.negatives, second.negatives)
    assert np.allclose(first.negative_scores, second.negative_scores, equal_nan=True)


def test_python_and_cli_rows_match_and_texts_are_verbatim(slice_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "neg.jsonl"
    args = [
        "mine",
        str(slice_dir),
        "--split",
        "train",
        "--format",
        "flagembedding",
        "--output",
        str(out),
        "-n",
        "4",
        "--cache-dir",
        str(cache_dir),
        "--json",
        "--quiet",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["queries"] == 30 and summary["output"] == str(out)
    cli_rows = [json.loads(line) for line in out.read_text().splitlines()]
    py_rows = trueneg.mine(slice_dir, split="train", num_negatives=4, cache_dir=cache_dir, show_progress=False)
    assert cli_rows == py_rows
    corpus = {}
    for line in (slice_dir / "corpus.jsonl").read_text().splitlines():
        rec = json.loads(line)
        corpus[rec["_id"]] = f"{rec['title']} {rec['text']}" if rec["title"] else rec["text"]
    texts = set(corpus.values())
    for row in cli_rows:
        assert set(row) == {"query", "pos", "neg", "pos_scores", "neg_scores"}
        assert len(row["neg"]) == len(row["neg_scores"]) and len(row["pos"]) == len(row["pos_scores"])
        assert set(row["pos"]) <= texts and set(row["neg"]) <= texts
        assert not set(row["pos"]) & set(row["neg"])


@pytest.mark.parametrize("fmt", ["triplet", "n-tuple", "labeled-list"])
def test_other_formats_parquet(slice_dir: Path, cache_dir: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "neg.parquet"
    res = runner.invoke(
        app, ["mine", str(slice_dir), "-f", fmt, "-o", str(out), "-n", "3", "--cache-dir", str(cache_dir), "-q"]
    )
    assert res.exit_code == 0, res.output
    rows = pq.read_table(out).to_pylist()
    assert rows
    if fmt == "triplet":
        assert set(rows[0]) == {"anchor", "positive", "negative"}
    elif fmt == "n-tuple":
        assert set(rows[0]) == {"anchor", "positive", "negative_1", "negative_2", "negative_3"}
    else:
        assert rows[0]["labels"] == [1, 0, 0, 0] and len(rows[0]["docs"]) == 4
    for row in rows:
        negs = [row[k] for k in row if k.startswith("negative")] or row.get("docs", [None])[1:]
        pos = row.get("positive") or row["docs"][0]
        assert pos not in negs


def test_invalid_input_writes_nothing(slice_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl"):
        (bad / name).write_bytes((slice_dir / name).read_bytes())
    (bad / "qrels").mkdir()
    (bad / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n0\t999999999\t1\n")
    out = tmp_path / "never.jsonl"
    res = runner.invoke(app, ["mine", str(bad), "-o", str(out), "-q"])
    assert res.exit_code == 2
    assert "train.tsv:2: field 'corpus-id': unknown corpus id '999999999'" in res.output
    assert not out.exists() and not list(tmp_path.glob(".never*"))
    res = runner.invoke(app, ["mine", str(slice_dir), "-o", str(tmp_path / "x.txt"), "-q"])
    assert res.exit_code == 2 and "must end in .jsonl or .parquet" in res.output


def test_sparse_and_hybrid_retrievers(slice_dir: Path, cache_dir: Path) -> None:
    data = load_beir(slice_dir, "train")
    sparse = mine_negatives(data, retriever="sparse", num_negatives=5, show_progress=False)
    hybrid = mine_negatives(data, retriever="hybrid", num_negatives=5, cache_dir=cache_dir, show_progress=False)
    dense = mine_negatives(data, retriever="dense", num_negatives=5, cache_dir=cache_dir, show_progress=False)
    assert sparse.summary["scores"]["positive"]["mean"] > 1.0  # BM25 scale, not cosine
    assert hybrid.summary["scores"]["positive"]["max"] <= 1.0  # hybrid filters on dense cosine
    sets = [set(r.negatives[r.negatives >= 0].tolist()) for r in (sparse, hybrid, dense)]
    # fusion draws on both lists: it shares negatives with each of them
    assert sets[1] & sets[0] and sets[1] & sets[2]


def test_bi_encoder_teacher_drives_filters_and_soft_labels(slice_dir: Path, cache_dir: Path) -> None:
    data = load_beir(slice_dir, "train")
    result = mine_negatives(
        data,
        num_negatives=3,
        cache_dir=cache_dir,
        show_progress=False,
        teacher="sentence-transformers/all-MiniLM-L6-v2",
        teacher_type="bi-encoder",
        model=SentenceTransformerEncoder(query_prompt="claim: ", cache_dir=cache_dir, show_progress=False),
    )
    rows = result.to_rows("triplet", extra_columns=True)
    assert "scores" in rows[0] and len(rows[0]["scores"]) == 2
    ready = result.to_rows("triplet")  # MarginMSE's layout: the teacher's margin as the label
    assert set(ready[0]) == {"anchor", "positive", "negative", "label"}
    assert ready[0]["label"] == pytest.approx(rows[0]["scores"][0] - rows[0]["scores"][1], abs=1e-5)
    # teacher = the model without the prompt, so its scores differ from the student's
    prompted = SentenceTransformerEncoder(query_prompt="claim: ", cache_dir=cache_dir, show_progress=False)
    student = mine_negatives(data, prompted, num_negatives=3, show_progress=False)
    assert not np.allclose(np.nan_to_num(result.negative_scores), np.nan_to_num(student.negative_scores))
    for qi in range(len(result.query_ids)):
        anchor = result.positive_scores[qi].min()
        kept = result.negative_scores[qi][result.negatives[qi] >= 0]
        assert np.all(kept <= anchor - 0.05 * abs(anchor) + 1e-6)


def test_cross_encoder_teacher(slice_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    from trueneg.candidates import resolve_model

    data = load_beir(slice_dir, "train")
    teacher = CrossEncoder(resolve_model(None), num_labels=1, max_length=64)  # untrained head: arbitrary, real scores
    result = mine_negatives(
        data, num_negatives=2, range_max=4, cache_dir=cache_dir, show_progress=False, teacher=teacher, perc_pos=None
    )
    rows = result.to_rows("labeled-list")
    assert set(rows[0]) == {"anchor", "docs", "scores"}
    q, d = result.query_texts[0], result.doc_texts[result.negatives[0][0]]
    assert result.negative_scores[0][0] == pytest.approx(float(teacher.predict([(q, d)])[0]), abs=1e-4)


def test_onnx_int8_backend_close_to_torch(cache_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    from trueneg.candidates import SentenceTransformerEncoder

    data = load_beir(Path(trueneg.__file__).parent / "data" / "demo", "train")
    texts = data.doc_texts[:40]
    fp32 = SentenceTransformerEncoder(cache_dir=False, show_progress=False).encode(texts, "document")
    int8 = SentenceTransformerEncoder(backend="onnx-int8", cache_dir=cache_dir, show_progress=False).encode(
        texts, "document"
    )
    cos = (fp32 * int8).sum(axis=1)
    assert cos.min() > 0.97
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)


def test_cli_max_fn_rate_reports_cutoff(slice_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "neg.jsonl"
    res = runner.invoke(
        app,
        [
            "mine",
            str(slice_dir),
            "-o",
            str(out),
            "-n",
            "5",
            "--max-fn-rate",
            "0.01",
            "--cache-dir",
            str(cache_dir),
            "--json",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    fn = json.loads(res.stdout)["false_negatives"]
    assert fn["max_fn_rate"] == 0.01 and 0.0 <= fn["cutoff"] <= 1.0
    assert fn["estimated_fn_rate"] <= 0.01
    assert json.loads(res.stdout)["dropped"]["perc_pos"] == 0  # replaced by the probability cutoff
    res = runner.invoke(app, ["mine", str(slice_dir), "-o", str(out), "--max-fn-rate", "2", "-q"])
    assert res.exit_code == 2 and "max_fn_rate must be in [0, 1]" in res.output
