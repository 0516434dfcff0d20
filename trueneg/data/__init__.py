"""Step 1 of the pipeline: load and validate retrieval data."""

from trueneg.data.dataset import DataError, DataWarning, Judgments, RetrievalData, join_title, normalize_text
from trueneg.data.loaders import (
    Columns,
    from_hf_dataset,
    input_files,
    load_beir,
    load_corpus,
    load_data,
    load_pairs,
)
from trueneg.data.sparse_labels import SparseLabels, sparse_labels

__all__ = [
    "Columns",
    "DataError",
    "DataWarning",
    "Judgments",
    "RetrievalData",
    "SparseLabels",
    "from_hf_dataset",
    "input_files",
    "join_title",
    "load_beir",
    "load_corpus",
    "load_data",
    "load_pairs",
    "normalize_text",
    "sparse_labels",
]
