"""Step 1 of the pipeline: load and validate retrieval data."""

from trueneg.data.dataset import DataError, Judgments, RetrievalData, join_title, normalize_text
from trueneg.data.loaders import from_hf_dataset, load_beir, load_corpus, load_data, load_pairs

__all__ = [
    "DataError",
    "Judgments",
    "RetrievalData",
    "from_hf_dataset",
    "join_title",
    "load_beir",
    "load_corpus",
    "load_data",
    "load_pairs",
    "normalize_text",
]
