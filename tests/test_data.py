"""Loading and validating retrieval data: every error names file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trueneg.data import DataError, DataWarning, from_hf_dataset, load_beir, load_pairs

from .conftest import write_beir


def test_beir_loads_titles_and_grades(tiny_beir: Path) -> None:
    data = load_beir(tiny_beir, "train")
    assert data.doc_texts[data.doc_index("d1")] == "Cats cats purr and sleep all day"
    assert data.doc_texts[data.doc_index("d2")] == "dogs bark at the mail carrier"  # empty title: no leading space
    assert data.qrels["q2"] == {"d2": 2, "d5": 0}
    judged = data.judgments(["q1", "q2"])
    assert sorted(judged.grade.tolist()) == [0, 1, 2]


def _corrupt(folder: Path, name: str, line: int, content: bytes) -> None:
    path = folder / name
    lines = path.read_bytes().splitlines(keepends=True)
    lines[line - 1] = content
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize(
    ("name", "line", "content", "expected"),
    [
        ("corpus.jsonl", 2, b'{"_id": "d2", "text": "oops"\n', r"corpus\.jsonl:2: malformed JSON"),
        (
            "corpus.jsonl",
            3,
            b'{"_id": "d1", "text": "again"}\n',
            r"corpus\.jsonl:3: field '_id': duplicate document id 'd1' \(first on line 1\)",
        ),
        ("corpus.jsonl", 4, b'{"_id": "d4", "title": " ", "text": "  "}\n', r"corpus\.jsonl:4: field 'text': empty"),
        ("corpus.jsonl", 5, b'{"text": "no id"}\n', r"corpus\.jsonl:5: missing field '_id'"),
        ("corpus.jsonl", 2, b'{"_id": "d2", "text": "caf\xe9"}\n', r"corpus\.jsonl:2: not valid UTF-8"),
        ("queries.jsonl", 2, b'["q2"]\n', r"queries\.jsonl:2: expected a JSON object"),
        ("qrels/train.tsv", 3, b"q2\tnope\t1\n", r"train\.tsv:3: field 'corpus-id': unknown corpus id 'nope'"),
        ("qrels/train.tsv", 2, b"q9\td1\t1\n", r"train\.tsv:2: field 'query-id': unknown query id 'q9'"),
        ("qrels/train.tsv", 4, b"q2\td5\tmaybe\n", r"train\.tsv:4: field 'score': not a number"),
        ("qrels/train.tsv", 2, b"q1\td1\n", r"train\.tsv:2: expected 3 fields"),
    ],
)
def test_beir_errors_name_file_line_field(tiny_beir: Path, name: str, line: int, content: bytes, expected: str) -> None:
    _corrupt(tiny_beir, name, line, content)
    with pytest.raises(DataError, match=expected):
        load_beir(tiny_beir, "train", strict=True)


def test_empty_documents_are_skipped_with_a_warning_and_counted(tiny_beir: Path) -> None:
    _corrupt(tiny_beir, "corpus.jsonl", 4, b'{"_id": "d4", "title": " ", "text": "  "}\n')
    with open(tiny_beir / "qrels" / "train.tsv", "a") as f:
        f.write("q1\td4\t0\n")
    with pytest.warns(DataWarning, match=r"skipped 1 document\(s\) with empty text \('d4'\)"):
        data = load_beir(tiny_beir, "train")
    assert "d4" not in data.doc_ids and "d4" not in data.qrels["q1"]
    assert data.skipped == {"empty_documents": 1, "empty_queries": 0, "judgments_of_empty_texts": 1}
    with pytest.raises(DataError, match=r"corpus\.jsonl:4: field 'text': empty document text for id 'd4'"):
        load_beir(tiny_beir, "train", strict=True)


@pytest.mark.parametrize(
    ("lines", "check"),
    [
        ("q1\td1\t0.5\n", lambda d: d.qrels["q1"]["d1"] == 0.5 and d.judgments(["q1"]).grade.tolist() == [0.5]),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\n", lambda d: d.qrels == {"q1": {"d1": 1}}),
        ("q1\td1\t1\nq2\td2\t2\n", lambda d: d.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}),  # no header
    ],
)
def test_qrels_grades_and_headers(tiny_beir: Path, lines: str, check) -> None:
    (tiny_beir / "qrels" / "train.tsv").write_text(lines)
    assert check(load_beir(tiny_beir, "train"))


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("q1\td1\t1\nq1\td1\t0\n", r"train\.tsv:2: query 'q1' and document 'd1' are judged again \(first on line 1\)"),
        ("q1\td1\tinf\n", r"train\.tsv:1: field 'score': not a finite number: 'inf'"),
        ("q1\td1\tnan\n", r"train\.tsv:1: field 'score': not a finite number"),
        ("q1\td1\t-1\n", r"train\.tsv:1: field 'score': negative grade"),
    ],
)
def test_qrels_refuses_duplicates_and_non_finite_grades(tiny_beir: Path, lines: str, expected: str) -> None:
    (tiny_beir / "qrels" / "train.tsv").write_text(lines)
    with pytest.raises(DataError, match=expected):
        load_beir(tiny_beir, "train")


def test_missing_split_lists_available(tiny_beir: Path) -> None:
    with pytest.raises(DataError, match=r"split 'test' not found; available splits: \['train'\]"):
        load_beir(tiny_beir, "test")


def test_pairs_jsonl_csv_parquet_agree(tmp_path: Path) -> None:
    rows = [
        {"query": "q one", "positive": "doc a", "positive_2": "doc b"},
        {"query": "q two", "positive": "doc c", "positive_2": "doc a"},
    ]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "p.csv").write_text("query,positive,positive_2\nq one,doc a,doc b\nq two,doc c,doc a\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    loaded = [load_pairs(tmp_path / f"p.{ext}") for ext in ("jsonl", "csv", "parquet")]
    for data in loaded:
        assert data.doc_texts == ["doc a", "doc b", "doc c"]
        assert data.query_texts == ["q one", "q two"]
        assert data.qrels == {"q0": {"d0": 1, "d1": 1}, "q1": {"d2": 1, "d0": 1}}


def test_pairs_list_columns_negatives_and_corpus(tmp_path: Path) -> None:
    (tmp_path / "fe.jsonl").write_text(json.dumps({"query": "q", "pos": ["p1", "p2"], "neg": ["n1"]}) + "\n")
    (tmp_path / "corpus.jsonl").write_text(
        json.dumps({"_id": "x", "text": "p1"}) + "\n" + json.dumps({"_id": "y", "title": "T", "text": "other"}) + "\n"
    )
    data = load_pairs(tmp_path / "fe.jsonl", corpus=tmp_path / "corpus.jsonl")
    assert data.doc_texts[:2] == ["p1", "T other"]
    assert data.qrels["q0"]["x"] == 1  # matched to the corpus by text
    assert sorted(data.qrels["q0"].values()) == [0, 1, 1]


def test_pairs_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"query": "q", "positive": "p"}) + "\n" + json.dumps({"query": "q2", "positive": ""}) + "\n"
    )
    with pytest.raises(DataError, match=r"bad\.jsonl:2: field 'positive': empty text"):
        load_pairs(path)
    csv = tmp_path / "bad.csv"
    csv.write_text("query,positive\nq,p,extra\n")
    with pytest.raises(DataError, match=r"bad\.csv:2: expected 2 fields"):
        load_pairs(csv)
    with pytest.raises(DataError, match="unsupported file type"):
        load_pairs(tmp_path / "x.txt")


def test_hf_dataset() -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"anchor": ["a", "b"], "positive": ["p", "p"]})
    data = from_hf_dataset(ds, corpus=["x", "y"])
    assert data.doc_texts == ["x", "y", "p"]
    assert data.qrels == {"q0": {"d2": 1}, "q1": {"d2": 1}}


def test_duplicate_query_ids(tmp_path: Path) -> None:
    folder = write_beir(
        tmp_path / "b",
        [{"_id": "d", "text": "t"}],
        [{"_id": "q", "text": "a"}, {"_id": "q", "text": "b"}],
        [("q", "d", 1)],
    )
    with pytest.raises(DataError, match=r"queries\.jsonl:2: field '_id': duplicate query id 'q'"):
        load_beir(folder)
