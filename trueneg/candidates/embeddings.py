"""Embeddings on disk, read in bounded chunks: bring your own, or encode once into a memory-mapped store.

An :class:`EmbeddingMatrix` is an ``(n, dim)`` ``.npy`` file whose rows follow the corpus (or query)
order. It is never loaded whole: every read maps the file, copies the rows asked for as float32
and unmaps it again, so the process holds at most one chunk (the page cache, which the kernel can
reclaim, keeps the file warm between reads). Vectors are compared by inner product, so rows are
L2-normalized on read; a row whose norm already is 1 within 1e-4 is passed through unchanged.

Sources (:func:`open_embeddings`):

- ``.npy``: float16/32/64, 2-D, C order, one row per id **in the corpus / queries order** as trueneg
  loaded them (for BEIR, the order of ``corpus.jsonl`` / ``queries.jsonl``); used in place.
- ``.parquet``: an id column (``id``, ``_id``, ``doc_id``, ``query_id`` or ``corpus_id``) and a
  list-of-floats column (``embedding``, ``embeddings``, ``vector`` or ``emb``), any row order. It is
  streamed batch by batch into an ``.npy`` store in corpus order under ``workdir`` (reused while the
  Parquet file and the ids are unchanged).

Both are validated before any search: shape and dtype, every id present exactly once, no unknown
id, a fixed dimension, finite non-zero vectors. Errors name the file, row and field.

:func:`encode_to_store` is the path without precomputed vectors: texts are encoded shard by shard
(each shard also lands in the on-disk :class:`~trueneg.candidates.cache.EmbeddingCache` as it is
done, so an interrupted run resumes where it stopped) into a store written atomically.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from trueneg import signals
from trueneg.data.dataset import PLURAL, DataError
from trueneg.io import atomic_path

ID_COLUMNS = ("id", "_id", "doc_id", "query_id", "corpus_id")
VECTOR_COLUMNS = ("embedding", "embeddings", "vector", "emb")
_NORM_TOLERANCE = 1e-4
_GATHER_ROWS = 2048


@dataclass(frozen=True)
class EmbeddingMatrix:
    """A row-aligned ``(n, dim)`` embedding file, read in chunks (see the module docstring).

    Example:
        >>> m = EmbeddingMatrix.from_npy("corpus.npy")  # doctest: +SKIP
        >>> m.read(0, 1000).shape  # doctest: +SKIP
        (1000, 384)
    """

    path: Path
    shape: tuple[int, int]
    dtype: np.dtype
    offset: int

    @classmethod
    def from_npy(cls, path: str | os.PathLike) -> EmbeddingMatrix:
        """Describe an ``.npy`` file from its header (nothing is read beyond it)."""
        path = Path(path)
        with path.open("rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(f)
            except ValueError as exc:
                raise DataError(f"{path}: not a .npy file ({exc})") from exc
            offset = f.tell()
        if len(shape) != 2 or shape[1] < 1:
            raise DataError(f"{path}: field embedding: expected a 2-D (rows, dim) array, got shape {shape}")
        if dtype.kind != "f":
            raise DataError(f"{path}: field embedding: expected floats, got dtype {dtype}")
        if fortran and shape[0] > 1 and shape[1] > 1:
            raise DataError(f"{path}: Fortran-ordered array; save it with np.save(path, np.ascontiguousarray(x))")
        return cls(path, (int(shape[0]), int(shape[1])), dtype, offset)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def dim(self) -> int:
        return self.shape[1]

    def _map(self) -> np.memmap:
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as contiguous, L2-normalized float32."""
        return _normalized(np.array(self._map()[start:stop], dtype=np.float32))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The rows named by ``rows`` (any order, repeats allowed), L2-normalized float32."""
        rows = np.asarray(rows, dtype=np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)  # sorted reads touch each page once
        out = np.empty((len(unique), self.dim), dtype=np.float32)
        # a fresh mapping per block of rows: every page fault also maps the cached pages around it
        # (measured: 82k scattered rows of 1M held 1.4 GB of file pages in one mapping), and the
        # pages leave this process's RSS only when their mapping goes
        for start in range(0, len(unique), _GATHER_ROWS):
            block = unique[start : start + _GATHER_ROWS]
            out[start : start + len(block)] = self._map()[block]
        return _normalized(out)[inverse.reshape(rows.shape)]

    def chunks(self, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, vectors)`` over the whole matrix, ``rows`` rows at a time."""
        for start in range(0, len(self), rows):
            yield start, self.read(start, min(start + rows, len(self)))


def _normalized(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    off = np.abs(norms - 1.0) > _NORM_TOLERANCE
    if off.any():
        x = np.where(off, x / np.maximum(norms, np.finfo(np.float32).tiny), x)
    return x


def chunk_rows(dim: int, budget_bytes: int = 256 * 2**20) -> int:
    """Rows of a ``dim``-wide float32 chunk that fit in ``budget_bytes`` (at least 1024)."""
    return max(1024, budget_bytes // (4 * dim))


def _check_values(matrix: EmbeddingMatrix, label: str, show_progress: bool) -> None:
    """Raise :class:`DataError` naming the first row that holds NaN/inf or is all zeros."""
    step = chunk_rows(matrix.dim, 64 * 2**20)
    for start in tqdm(range(0, len(matrix), step), desc=f"Checking {label}", disable=not show_progress):
        block = np.array(matrix._map()[start : start + step])
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            raise DataError(f"{matrix.path}: row {start + int(np.argmax(bad))}: field embedding: NaN or infinite value")
        zero = ~(block != 0).any(axis=1)
        if zero.any():
            raise DataError(f"{matrix.path}: row {start + int(np.argmax(zero))}: field embedding: all-zero vector")


def open_embeddings(
    path: str | os.PathLike,
    ids: list[str],
    *,
    what: str = "corpus",
    workdir: str | os.PathLike | None = None,
    show_progress: bool = False,
) -> EmbeddingMatrix:
    """Validate an embedding file against ``ids`` and return it as an :class:`EmbeddingMatrix`.

    Args:
        path: ``.npy`` (rows in the order of ``ids``) or ``.parquet`` (id column + vector column).
        ids: the corpus (or query) ids, in the order trueneg holds them.
        what: ``"corpus"`` or ``"queries"``, for messages.
        workdir: folder for the ``.npy`` store a Parquet file is converted into; default
            ``<trueneg cache>/embeddings``.
        show_progress: progress bars for the validation pass.

    Example:
        >>> m = open_embeddings("corpus.npy", data.doc_ids)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} embeddings file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        matrix = EmbeddingMatrix.from_npy(path)
        if len(matrix) != len(ids):
            raise DataError(
                f"{path}: {len(matrix)} rows but the {what} has {len(ids)} ids; .npy rows must follow the {what} "
                "order one to one (use Parquet with an id column for any other order)"
            )
        _check_values(matrix, f"{what} embeddings", show_progress)
        return matrix
    if suffix == ".parquet":
        from trueneg.candidates.cache import default_cache_dir

        folder = Path(workdir) if workdir is not None else default_cache_dir() / "embeddings"
        return _parquet_to_store(path, ids, what, folder, show_progress)
    raise DataError(f"{path}: {what} embeddings must be .npy or .parquet, got {path.suffix!r}")


def _pick_column(path: Path, names: list[str], wanted: tuple[str, ...], field: str) -> str:
    for name in wanted:
        if name in names:
            return name
    raise DataError(f"{path}: field {field}: no column named {' / '.join(wanted)} (columns: {', '.join(names)})")


def _parquet_to_store(path: Path, ids: list[str], what: str, folder: Path, show_progress: bool) -> EmbeddingMatrix:
    """Stream a Parquet embedding file into an ``.npy`` store in ``ids`` order (validated on the way)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    stat = path.stat()
    digest = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    digest.update("\n".join(ids).encode("utf-8"))
    target = folder / f"{digest.hexdigest()[:32]}.npy"
    if target.is_file():
        return EmbeddingMatrix.from_npy(target)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    names = parquet.schema_arrow.names
    id_col = _pick_column(path, names, ID_COLUMNS, "id")
    vec_col = _pick_column(path, names, VECTOR_COLUMNS, "embedding")
    value_set = pa.array(ids, type=pa.string())
    seen = np.zeros(len(ids), dtype=bool)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        store = None
        row0 = 0
        batches = parquet.iter_batches(batch_size=16384, columns=[id_col, vec_col])
        for batch in tqdm(batches, desc=f"Reading {what} embeddings", disable=not show_progress):
            batch_ids, vectors = batch.column(0), batch.column(1)
            if batch_ids.null_count:
                raise DataError(f"{path}: row {row0 + _first(pc.is_null(batch_ids))}: field {id_col}: empty id")
            if vectors.null_count:
                raise DataError(f"{path}: row {row0 + _first(pc.is_null(vectors))}: field {vec_col}: null vector")
            if not (pa.types.is_list(vectors.type) or pa.types.is_fixed_size_list(vectors.type)):
                raise DataError(f"{path}: field {vec_col}: expected a list of floats, got {vectors.type}")
            lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
            if store is None:
                dim = int(lengths[0]) if len(lengths) else 0
                if dim < 1:
                    raise DataError(f"{path}: row {row0}: field {vec_col}: empty vector")
                store = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(ids), dim))
            if (lengths != store.shape[1]).any():
                bad = int(np.argmax(lengths != store.shape[1]))
                raise DataError(
                    f"{path}: row {row0 + bad}: field {vec_col}: {lengths[bad]} values, expected {store.shape[1]}"
                )
            position = pc.index_in(batch_ids.cast(pa.string()), value_set=value_set).to_numpy(zero_copy_only=False)
            unknown = np.isnan(position) if position.dtype.kind == "f" else np.zeros(len(position), bool)
            if unknown.any():
                bad = int(np.argmax(unknown))
                raise DataError(
                    f"{path}: row {row0 + bad}: field {id_col}: {batch_ids[bad].as_py()!r} is not a {what} id"
                )
            position = position.astype(np.int64)
            values = pc.list_flatten(vectors).to_numpy(zero_copy_only=False).astype(np.float32)
            values = values.reshape(len(position), store.shape[1])
            _, first = np.unique(position, return_index=True)
            repeated = seen[position] | ~np.isin(np.arange(len(position)), first)
            if repeated.any():
                bad = int(np.argmax(repeated))
                raise DataError(f"{path}: row {row0 + bad}: field {id_col}: id {ids[position[bad]]!r} appears twice")
            finite = np.isfinite(values).all(axis=1)
            nonzero = (values != 0).any(axis=1)
            if not (finite & nonzero).all():
                bad = int(np.argmax(~(finite & nonzero)))
                problem = "NaN or infinite value" if not finite[bad] else "all-zero vector"
                raise DataError(f"{path}: row {row0 + bad}: field {vec_col}: {problem}")
            store[position] = values
            seen[position] = True
            row0 += len(position)
        if not seen.all():
            missing = np.flatnonzero(~seen)
            examples = ", ".join(repr(ids[i]) for i in missing[:5])
            raise DataError(f"{path}: {len(missing)} of {len(ids)} {what} ids have no embedding, e.g. {examples}")
        store.flush()
        del store
    return EmbeddingMatrix.from_npy(target)


def _first(mask: Any) -> int:
    return int(np.argmax(mask.to_numpy(zero_copy_only=False)))


@dataclass
class EncodeShard:
    """``encoder.encode(texts[start:stop], kind)``: one shard of :func:`encode_to_store`, picklable for Ray."""

    encoder: Any
    texts: list[str]
    kind: str

    def __call__(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.encoder.encode(self.texts[start:stop], self.kind), dtype=np.float32)


def encode_to_store(
    encoder: Any,
    texts: list[str],
    kind: str,
    target: str | os.PathLike,
    *,
    shard_size: int = 8192,
    show_progress: bool = False,
    map_shards: Callable[..., Iterator[np.ndarray]] | None = None,
) -> EmbeddingMatrix:
    """Encode ``texts`` shard by shard into the ``.npy`` store ``target`` (atomic) and return it.

    Memory holds one shard of vectors at a time. With a caching encoder (the default
    :class:`~trueneg.candidates.encoders.SentenceTransformerEncoder`) every shard is also stored in
    the embedding cache as it completes, so a rerun after an interruption encodes only the rest.
    ``map_shards(work, bounds, desc=...)`` may run the :class:`EncodeShard` calls elsewhere (the Ray
    engine does); it must yield the shards' vectors in order.

    Example:
        >>> store = encode_to_store(as_encoder(None), data.doc_texts, "document", "corpus.npy")  # doctest: +SKIP
    """
    if not texts:
        raise ValueError(f"{target}: nothing to encode")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = EncodeShard(encoder, texts, kind)
    bounds = [(start, min(start + shard_size, len(texts))) for start in range(0, len(texts), shard_size)]
    if map_shards is None:
        shards = (work(a, b) for a, b in tqdm(bounds, desc=f"Encoding {PLURAL[kind]}", disable=not show_progress))
    else:
        shards = map_shards(work, bounds, desc=f"Encoding {PLURAL[kind]}")
    with atomic_path(target) as tmp:
        store = None
        for (start, stop), vectors in zip(bounds, shards):
            signals.check()
            if store is None:
                store = np.lib.format.open_memmap(
                    tmp, mode="w+", dtype=np.float32, shape=(len(texts), vectors.shape[1])
                )
            store[start:stop] = vectors
        store.flush()
        del store
    return EmbeddingMatrix.from_npy(target)
