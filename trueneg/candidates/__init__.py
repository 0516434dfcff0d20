"""Step 2 of the pipeline: retrieve candidate negatives (dense, BM25 or hybrid; embeddings on disk and
approximate indexes for large corpora)."""

from trueneg.candidates.cache import EmbeddingCache, default_cache_dir
from trueneg.candidates.dense import dense_search, pair_scores
from trueneg.candidates.embeddings import EmbeddingMatrix, encode_to_store, open_embeddings
from trueneg.candidates.encoders import (
    BACKENDS,
    DEFAULT_MODEL,
    Encoder,
    SentenceTransformerEncoder,
    as_encoder,
    resolve_model,
)
from trueneg.candidates.hybrid import reciprocal_rank_fusion
from trueneg.candidates.index import INDEX_TYPES, SearchIndex, build_index, exact_search, tune_index
from trueneg.candidates.sparse import BM25Index

__all__ = [
    "BACKENDS",
    "INDEX_TYPES",
    "BM25Index",
    "DEFAULT_MODEL",
    "EmbeddingCache",
    "EmbeddingMatrix",
    "Encoder",
    "SearchIndex",
    "SentenceTransformerEncoder",
    "as_encoder",
    "build_index",
    "default_cache_dir",
    "dense_search",
    "encode_to_store",
    "exact_search",
    "open_embeddings",
    "pair_scores",
    "reciprocal_rank_fusion",
    "resolve_model",
    "tune_index",
]
