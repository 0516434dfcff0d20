"""Shared fixtures: a cheap deterministic encoder, tiny BEIR folders, SciFact slices."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCIFACT = SHARED / "scifact"


@functools.cache
def _word_vector(seed: int, dim: int, word: str) -> np.ndarray:
    """The random direction of one word (memoized: the suite encodes the same words many times)."""
    digest = hashlib.blake2b(f"{seed}:{word}".encode(), digest_size=8).digest()
    vector = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(dim)
    vector.flags.writeable = False
    return vector


class HashEncoder:
    """Bag-of-words random projection: texts sharing words get similar unit vectors. Deterministic."""

    def __init__(self, dim: int = 64, seed: int = 0) -> None:
        self.dim = dim
        self.seed = seed
        self.calls = 0

    def _word(self, word: str) -> np.ndarray:
        return _word_vector(self.seed, self.dim, word)

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i] += self._word(word)
            out[i] += 1e-3 * self._word(f"__bias_{kind}")
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the session: modules that encode the same SciFact texts encode them once."""
    return tmp_path_factory.mktemp("embeddings")


@pytest.fixture
def hash_encoder() -> HashEncoder:
    return HashEncoder()


def write_beir(folder: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple], split: str = "train") -> Path:
    """Write a BEIR folder from records; qrels are (query-id, corpus-id, score) tuples."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries), encoding="utf-8")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def tiny_beir(tmp_path: Path) -> Path:
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "cats purr and sleep all day"},
        {"_id": "d2", "title": "", "text": "dogs bark at the mail carrier"},
        {"_id": "d3", "title": "Cats", "text": "cats   PURR and sleep all day"},
        {"_id": "d4", "text": "stock markets fell on tuesday"},
        {"_id": "d5", "text": "cats and dogs can live together"},
        {"_id": "d6", "text": "a recipe for bread with yeast"},
    ]
    queries = [{"_id": "q1", "text": "do cats purr"}, {"_id": "q2", "text": "why do dogs bark"}]
    qrels = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d5", 0)]
    return write_beir(tmp_path / "tiny", corpus, queries, qrels)


def scifact_slice(folder: Path, n_queries: int = 30, extra_docs: int = 120, split: str = "train") -> Path:
    """A small real BEIR folder: ``n_queries`` SciFact queries, their positives and ``extra_docs`` others."""
    if not SCIFACT.is_dir():
        pytest.skip("../shared/data/scifact not present")
    qrels = [line.split("\t") for line in (SCIFACT / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]]
    query_ids = list(dict.fromkeys(q for q, _, _ in qrels))[:n_queries]
    chosen = [(q, d, s.strip()) for q, d, s in qrels if q in query_ids]
    positives = {d for _, d, _ in chosen}
    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text().splitlines()]
    others = [r for r in corpus if r["_id"] not in positives][:extra_docs]
    docs = [r for r in corpus if r["_id"] in positives] + others
    queries = [json.loads(line) for line in (SCIFACT / "queries.jsonl").read_text().splitlines()]
    return write_beir(folder, docs, [q for q in queries if q["_id"] in query_ids], chosen, split)
