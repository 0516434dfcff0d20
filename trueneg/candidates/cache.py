"""On-disk embedding cache keyed by model identity and text hash.

Each model identity gets a folder; each run that encodes new texts appends one shard
(``keys-<id>.npy`` with hex BLAKE2 digests of the texts, ``emb-<id>.npy`` with their vectors).
A second run over the same texts reads every vector from disk and encodes nothing; a run over
a partly new corpus encodes only the new texts. Shards are written atomically (vectors first,
keys last), so a crash never leaves a readable but incomplete shard; a shard that cannot be read
anyway (a damaged disk, a truncated copy) is ignored with a warning naming its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import uuid
import warnings
from pathlib import Path

import numpy as np

from trueneg.io import atomic_path


def default_cache_dir() -> Path:
    """``$TRUENEG_CACHE`` or ``~/.cache/trueneg``."""
    return Path(os.environ.get("TRUENEG_CACHE", Path.home() / ".cache" / "trueneg"))


def text_keys(texts: list[str]) -> np.ndarray:
    """128-bit BLAKE2b digests of ``texts`` as an ``S32`` hex array."""
    return np.array([hashlib.blake2b(t.encode("utf-8"), digest_size=16).hexdigest() for t in texts], dtype="S32")


def check_cache_dir(cache_dir: object) -> None:
    """Raise ``ValueError`` if ``cache_dir`` names an existing file (checked before any encoding)."""
    if isinstance(cache_dir, (str, os.PathLike)) and Path(cache_dir).exists() and not Path(cache_dir).is_dir():
        raise ValueError(f"{cache_dir}: the embedding cache (cache_dir, --cache-dir) must be a folder, not a file")


class EmbeddingCache:
    """Embeddings of one model identity, stored under ``folder/<hash of identity>``.

    Example:
        >>> cache = EmbeddingCache("/tmp/cache", identity="my-model|document")  # doctest: +SKIP
        >>> vectors, missing = cache.lookup(["a text"])  # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike, identity: str) -> None:
        check_cache_dir(folder)
        self.identity = identity
        self.folder = Path(folder) / hashlib.sha256(identity.encode()).hexdigest()[:24]

    def _shards(self) -> list[tuple[Path, Path]]:
        return [(k, k.with_name("emb-" + k.name[len("keys-") :])) for k in sorted(self.folder.glob("keys-*.npy"))]

    def lookup(self, texts: list[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """Cached vectors for ``texts`` (rows of missing texts are zero) and a boolean ``missing`` mask."""
        keys = text_keys(texts)
        missing = np.ones(len(texts), dtype=bool)
        out: np.ndarray | None = None
        for keys_path, emb_path in self._shards():
            try:
                shard_keys = np.load(keys_path)
                vectors = np.load(emb_path, mmap_mode="r")
                if len(vectors) != len(shard_keys) or vectors.ndim != 2:
                    raise ValueError(f"{len(vectors)} vectors for {len(shard_keys)} keys")
            except (OSError, ValueError, EOFError) as exc:
                warnings.warn(f"{keys_path}: unreadable embedding cache shard ignored ({exc}); delete it", stacklevel=2)
                continue
            order = np.argsort(shard_keys)
            pos = np.searchsorted(shard_keys, keys, sorter=order)
            pos = np.minimum(pos, len(shard_keys) - 1)
            hit = missing & (shard_keys[order[pos]] == keys)
            if not hit.any():
                continue
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[hit] = vectors[order[pos[hit]]]
            missing &= ~hit
            if not missing.any():
                break
        return out, missing

    def add(self, texts: list[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` for ``texts`` as a new shard.

        Under an exclusive lock on the folder, the texts another run stored meanwhile are left out, so
        two runs encoding the same corpus at once write one shard, not two.
        """
        if len(texts) == 0:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                _, missing = self.lookup(texts)
                if missing.any():
                    self._write([t for t, m in zip(texts, missing) if m], np.asarray(vectors)[missing])
        except (OSError, ValueError) as exc:  # a read-only or full cache folder must not fail the run
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            warnings.warn(
                f"{self.folder.parent}: cannot write the embedding cache ({reason}); the vectors are not cached "
                "(set --cache-dir to a writable folder, or --no-cache)",
                stacklevel=2,
            )

    def _write(self, texts: list[str], vectors: np.ndarray) -> None:
        meta = self.folder / "identity.json"
        if not meta.exists():
            with atomic_path(meta) as tmp:
                tmp.write_text(json.dumps({"identity": self.identity}))
        shard = uuid.uuid4().hex
        with atomic_path(self.folder / f"emb-{shard}.npy") as tmp:
            with tmp.open("wb") as f:
                np.save(f, np.ascontiguousarray(vectors, dtype=np.float32))
        with atomic_path(self.folder / f"keys-{shard}.npy") as tmp:
            with tmp.open("wb") as f:
                np.save(f, text_keys(texts))
