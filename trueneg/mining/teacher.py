"""Teacher rescoring: a second model scores (query, document) pairs.

A bi-encoder teacher embeds queries and documents (through the same embedding cache as the
retriever); a cross-encoder teacher reads each pair. When a teacher is given, its scores drive the
false-negative filters and the hardness order, and are written out as soft labels; and
:func:`pool_scorer` gives the false-negative detector the teacher's scores as evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.candidates.encoders import CacheDir, as_encoder, is_encoder, load_model, resolve_model
from trueneg.candidates.pool import CandidatePool
from trueneg.validation import check_one_of

TEACHER_TYPES = ("auto", "bi-encoder", "cross-encoder")


def teacher_kind(teacher: Any, teacher_type: str = "auto") -> str:
    """Whether ``teacher`` is a ``"bi-encoder"`` or a ``"cross-encoder"``.

    With ``"auto"``: a loaded ``CrossEncoder`` is a cross-encoder; a folder whose ``modules.json``
    lists a Pooling module is a bi-encoder; any other name or path is taken as a cross-encoder.
    """
    check_one_of("teacher_type", teacher_type, TEACHER_TYPES)
    if teacher_type != "auto":
        return teacher_type
    if is_encoder(teacher):
        return "bi-encoder"
    if not isinstance(teacher, str):
        from sentence_transformers import CrossEncoder

        return "cross-encoder" if isinstance(teacher, CrossEncoder) else "bi-encoder"
    modules = Path(resolve_model(teacher)) / "modules.json"
    if modules.is_file() and any("Pooling" in m.get("type", "") for m in json.loads(modules.read_text())):
        return "bi-encoder"
    return "cross-encoder"


def teacher_scores(
    teacher: Any,
    query_texts: list[str],
    doc_texts: list[str],
    query_index: np.ndarray,
    doc_index: np.ndarray,
    teacher_type: str = "auto",
    batch_size: int = 32,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
) -> np.ndarray:
    """Teacher scores of the (query, doc) pairs named by the index arrays (a :class:`TeacherScorer`: its own)."""
    if isinstance(teacher, TeacherScorer):
        return teacher.pairs(query_texts, doc_texts, query_index, doc_index)
    kind = teacher_kind(teacher, teacher_type)
    if kind == "bi-encoder":
        encoder = as_encoder(teacher, batch_size=batch_size, cache_dir=cache_dir, show_progress=show_progress)
        used_q, q_pos = np.unique(query_index, return_inverse=True)
        used_d, d_pos = np.unique(doc_index, return_inverse=True)
        q_vec = encoder.encode([query_texts[i] for i in used_q], "query")
        d_vec = encoder.encode([doc_texts[i] for i in used_d], "document")
        return np.einsum("ij,ij->i", q_vec[q_pos], d_vec[d_pos]).astype(np.float32)
    if isinstance(teacher, str):
        teacher = load_model(teacher, cross_encoder=True)
    pairs = [(query_texts[q], doc_texts[d]) for q, d in zip(query_index, doc_index)]
    scores = teacher.predict(pairs, batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True)
    return np.asarray(scores, dtype=np.float32).reshape(len(pairs), -1)[:, -1]


class TeacherScorer:
    """A loaded, tried teacher: ``scorer(pool) -> (Q, K)`` scores of a pool's pairs (NaN for padding), and
    :meth:`pairs` for any (query, document) pairs. One per run, so the in-memory path, every chunk of the
    scale path and the rescoring share one loaded model. ``str(scorer)`` is the teacher as the user named it.
    """

    def __init__(self, teacher: Any, data: Any, teacher_type: str = "auto", batch_size: int = 32,
                 cache_dir: CacheDir = None, show_progress: bool = True) -> None:  # fmt: skip
        self.name, self.kind, self.data = str(teacher), teacher_kind(teacher, teacher_type), data
        self.batch_size, self.cache_dir, self.show_progress = batch_size, cache_dir, show_progress
        if self.kind == "bi-encoder":
            teacher = as_encoder(teacher, batch_size=batch_size, cache_dir=cache_dir, show_progress=show_progress)
        elif isinstance(teacher, str):
            teacher = load_model(teacher, cross_encoder=True)
        self.model = teacher
        self._probe("a (query, document) pair", "a query", "a document")
        if data is not None and len(data.query_texts) and len(data.doc_texts):
            query, doc = _longest(data.query_texts), _longest(data.doc_texts)
            self._probe(
                f"the data's longest query and document ({len(query)} and {len(doc)} characters), though it scores a "
                "short pair: a tokenizer limit (max_seq_length, max_length) longer than the model's position "
                "embeddings fails this way; set one the model reads", query, doc,
            )  # fmt: skip

    def _probe(self, what: str, query: str, doc: str) -> None:
        """Score one pair now, so a teacher that cannot fails before any retrieval, with one line naming ``what``."""
        zero = np.zeros(1, dtype=np.int64)
        try:
            probe = teacher_scores(self.model, [query], [doc], zero, zero, teacher_type=self.kind,
                                   batch_size=self.batch_size, cache_dir=False, show_progress=False)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - any failure of a user's model is reported as one line
            raise ValueError(f"teacher {self.name}: cannot score {what} ({type(exc).__name__}: {exc})") from None
        if not np.isfinite(probe).all():
            raise ValueError(f"teacher {self.name}: scored {what} as {probe[0]}")

    def __str__(self) -> str:
        return self.name

    def pairs(self, query_texts: list[str], doc_texts: list[str], query_index: np.ndarray,
              doc_index: np.ndarray) -> np.ndarray:  # fmt: skip
        """Scores of the (query, doc) pairs named by the index arrays (:func:`teacher_scores`)."""
        return teacher_scores(self.model, query_texts, doc_texts, query_index, doc_index, teacher_type=self.kind,
                              batch_size=self.batch_size, cache_dir=self.cache_dir,
                              show_progress=self.show_progress)  # fmt: skip

    def __call__(self, pool: CandidatePool) -> np.ndarray:
        valid = pool.candidates >= 0
        q, k = np.nonzero(valid)
        rows = np.array([self.data.query_index(qid) for qid in pool.query_ids], dtype=np.int64)
        out = np.full(valid.shape, np.nan)
        out[q, k] = self.pairs(self.data.query_texts, self.data.doc_texts, rows[q], pool.candidates[q, k])
        return out


def _longest(texts: list[str]) -> str:
    return texts[int(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)).argmax())]


def pool_scorer(
    teacher: Any,
    data: Any,
    teacher_type: str = "auto",
    batch_size: int = 32,
    cache_dir: CacheDir = None,
    show_progress: bool = True,
) -> TeacherScorer:
    """The detector's second opinion: a :class:`TeacherScorer` of ``teacher`` on ``data``'s pools.

    The teacher is loaded and tried now, on a short pair and on the data's longest query and document,
    so a model that cannot encode, or that reads past its position embeddings, fails before any work.
    An existing :class:`TeacherScorer` is returned as it is.
    """
    if isinstance(teacher, TeacherScorer):
        return teacher
    return TeacherScorer(teacher, data, teacher_type, batch_size, cache_dir, show_progress)
