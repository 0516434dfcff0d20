"""Step 2 of the pipeline: retrieve candidate negatives (dense, BM25 or hybrid)."""

from trueneg.candidates.cache import EmbeddingCache, default_cache_dir
from trueneg.candidates.dense import dense_search, pair_scores
from trueneg.candidates.encoders import (
    BACKENDS,
    DEFAULT_MODEL,
    Encoder,
    SentenceTransformerEncoder,
    as_encoder,
    resolve_model,
)
from trueneg.candidates.hybrid import reciprocal_rank_fusion
from trueneg.candidates.sparse import BM25Index

__all__ = [
    "BACKENDS",
    "BM25Index",
    "DEFAULT_MODEL",
    "EmbeddingCache",
    "Encoder",
    "SentenceTransformerEncoder",
    "as_encoder",
    "default_cache_dir",
    "dense_search",
    "pair_scores",
    "reciprocal_rank_fusion",
    "resolve_model",
]
