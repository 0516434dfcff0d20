"""trueneg: hard negatives that are truly negative.

Pipeline: :mod:`trueneg.data` (load and validate) -> :mod:`trueneg.candidates` (dense, BM25,
hybrid retrieval) -> :mod:`trueneg.mining` (false-negative filters, sampling, output).

Example:
    >>> import trueneg
    >>> rows = trueneg.mine("../shared/data/scifact", split="train", num_negatives=10)  # doctest: +SKIP
"""

from trueneg.candidates.encoders import SentenceTransformerEncoder
from trueneg.data import DataError, RetrievalData, from_hf_dataset, load_beir, load_data, load_pairs, sparse_labels
from trueneg.mining import (
    MiningConfig,
    MiningResult,
    MiningSummary,
    ScaleConfig,
    mine,
    mine_negatives,
    mine_pool,
    mine_to_file,
)

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "MiningConfig",
    "MiningResult",
    "MiningSummary",
    "RetrievalData",
    "ScaleConfig",
    "SentenceTransformerEncoder",
    "from_hf_dataset",
    "load_beir",
    "load_data",
    "load_pairs",
    "mine",
    "mine_negatives",
    "mine_pool",
    "mine_to_file",
    "sparse_labels",
]
