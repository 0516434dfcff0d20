"""Every output format's writer and reader (trueneg.mining.formats) agree on the extra fields: inferred
positives, their probabilities and the negatives' false-negative probabilities, inline and in the sidecar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trueneg.data import DataError
from trueneg.mining.formats import FORMATS, MODULES, format_of
from trueneg.mining.result import MiningResult, sidecar_path
from trueneg.training import load_examples


def _relabeled() -> MiningResult:
    docs = [f"passage {i} on subject {i % 4}" for i in range(10)]
    return MiningResult(
        query_ids=["a", "b"], query_texts=["query a", "query b"], doc_ids=[f"d{i}" for i in range(10)],
        doc_texts=docs, positives=[np.array([0]), np.array([1])],
        positive_scores=[np.array([0.9]), np.array([0.8])], negatives=np.array([[4, 5], [6, 7]]),
        negative_scores=np.array([[0.5, 0.4], [0.3, 0.2]]), inferred=[np.array([2]), np.array([], dtype=int)],
        inferred_scores=[np.array([0.7]), np.array([])], inferred_probabilities=[np.array([0.75]), np.array([])],
        negative_probabilities=np.array([[0.1, 0.02], [0.3, 0.0]], dtype=np.float32),
    )  # fmt: skip


@pytest.mark.parametrize("inline", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_what_it_wrote(tmp_path: Path, fmt: str, inline: bool) -> None:
    result = _relabeled()
    path = result.write(tmp_path / "rows.jsonl", fmt, extra_columns=inline)
    assert sidecar_path(path).exists() != inline  # the extras go beside the rows unless asked inline
    examples = load_examples(path)
    docs = result.doc_texts
    by_positive = {p: i for i, p in enumerate(examples.positives)}
    assert set(by_positive) == {docs[0], docs[1], docs[2]}
    inferred = docs[2]  # query a's inferred positive, with probability 0.75
    assert [examples.inferred[by_positive[p]] for p in (docs[0], docs[1], inferred)] == [False, False, True]
    assert examples.weights[by_positive[inferred]] == pytest.approx(0.75)
    assert examples.weights[by_positive[docs[0]]] == 1.0
    i = by_positive[docs[1]]
    assert examples.negatives[i] == [docs[6], docs[7]]
    assert examples.negative_probabilities[i] == pytest.approx([0.3, 0.0])
    assert format_of(path, 1, next(iter(result.to_rows(fmt, extra_columns=True)))) == fmt


def test_rows_of_an_unknown_shape_name_their_fields(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"rows.jsonl:3: cannot tell the format from fields \['text'\]"):
        format_of(tmp_path / "rows.jsonl", 3, {"text": "x"})
    assert all(set(module.EXTRA).isdisjoint(module.FIELDS) for module in MODULES.values())
