"""Load retrieval data from BEIR folders, pair files (JSONL/CSV/Parquet) and Hugging Face datasets.

All loaders validate as they read and raise :class:`~trueneg.data.dataset.DataError` naming the
file, line and field of the first problem, so nothing downstream runs on bad input.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trueneg.data.dataset import PLURAL, DataError, DataWarning, RetrievalData, join_title
from trueneg.data.readers import decoded_lines, read_jsonl, read_table, text_field

QUERY_COLUMNS = ("query", "anchor", "question")
POSITIVE_COLUMNS = ("pos", "positive", "positives", "document", "passage")
NEGATIVE_COLUMNS = ("neg", "negative", "negatives")
LABEL_COLUMNS = ("label", "labels", "score", "scores", "relevance", "grade", "rel")


def _read_beir_records(path: Path, kind: str, strict: bool = False) -> tuple[list[str], list[str], list[str]]:
    """Ids and texts of a BEIR corpus.jsonl / queries.jsonl, with duplicate-id and empty-text checks.

    Records with an empty text are skipped (their ids returned third) unless ``strict``, which
    refuses them; real BEIR collections hold a few empty documents.
    """
    ids: list[str] = []
    texts: list[str] = []
    skipped: list[str] = []
    first_line: dict[str, int] = {}
    for number, record in read_jsonl(path):
        rid = text_field(path, number, record, "_id").strip()  # ids are stripped everywhere, as in the qrels
        if not rid:
            raise DataError(f"{path}:{number}: field '_id': empty {kind} id")
        if rid in first_line:
            raise DataError(
                f"{path}:{number}: field '_id': duplicate {kind} id {rid!r} (first on line {first_line[rid]})"
            )
        first_line[rid] = number
        body = text_field(path, number, record, "text", required=False)
        title = text_field(path, number, record, "title", required=False) if kind == "document" else ""
        text = join_title(title, body) if kind == "document" else body
        if not text.strip():
            if strict:
                raise DataError(
                    f"{path}:{number}: field 'text': empty {kind} text for id {rid!r} (without --strict, "
                    f"empty {PLURAL[kind]} are skipped with a warning)"
                )
            skipped.append(rid)
            continue
        ids.append(rid)
        texts.append(text)
    if not ids:
        skipped_note = f" ({len(skipped)} empty ones skipped)" if skipped else ""
        raise DataError(f"{path}: no {PLURAL[kind]} found{skipped_note}")
    if skipped:
        shown = ", ".join(repr(i) for i in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        warnings.warn(
            f"{path}: skipped {len(skipped)} {kind}(s) with empty text ({shown}); they can be neither a positive "
            "nor a negative (strict=True / --strict refuses them instead)",
            DataWarning,
            stacklevel=3,
        )
    return ids, texts, skipped


def _grade(path: Path, number: int, raw: str) -> int | float:
    """A qrels grade: a finite number >= 0, kept fractional when it is (0.5 is a positive, not 0)."""
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"{path}:{number}: field 'score': not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{number}: field 'score': not a finite number: {raw!r}")
    if value < 0:
        raise DataError(f"{path}:{number}: field 'score': negative grade {raw}")
    return int(value) if value.is_integer() else value


def read_qrels(
    path: Path, doc_ids: set[str], query_ids: set[str], skipped: tuple[set[str], set[str]] = (set(), set())
) -> tuple[dict[str, dict[str, int | float]], int]:
    """Read a BEIR qrels TSV (query-id, corpus-id, score) and the number of judgments of skipped texts.

    The first line is a header when its score field is not a number; otherwise it is a judgment,
    checked like every other line (a file without a header keeps its first judgment). Ids are
    stripped of surrounding spaces, as in the corpus and queries. Grades may be fractional;
    ``> 0`` is a positive. A (query, document) pair judged twice is an error naming both lines.
    Judgments of skipped (empty) documents or queries are dropped and counted.
    """
    skipped_docs, skipped_queries = skipped
    qrels: dict[str, dict[str, int | float]] = {}
    line_of: dict[tuple[str, str], int] = {}
    dropped = 0
    for number, line in decoded_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise DataError(f"{path}:{number}: expected 3 fields (query-id, corpus-id, score), tab-separated")
        qid, did, raw_grade = (f.strip() for f in fields[:3])
        if number == 1 and not _is_number(raw_grade):
            continue  # the header: a first line whose score parses is a judgment, checked like any other
        if qid in skipped_queries or did in skipped_docs:
            dropped += 1
            continue
        if qid not in query_ids:
            raise DataError(f"{path}:{number}: field 'query-id': unknown query id {qid!r}")
        if did not in doc_ids:
            raise DataError(f"{path}:{number}: field 'corpus-id': unknown corpus id {did!r}")
        grade = _grade(path, number, raw_grade)
        if (qid, did) in line_of:
            raise DataError(
                f"{path}:{number}: query {qid!r} and document {did!r} are judged again (first on line "
                f"{line_of[qid, did]}); keep one judgment per pair"
            )
        line_of[qid, did] = number
        qrels.setdefault(qid, {})[did] = grade
    if not qrels:
        raise DataError(f"{path}: no judgments found")
    return qrels, dropped


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_beir(folder: str | Path, split: str = "train", strict: bool = False) -> RetrievalData:
    """Load a BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

    Document text is the title and text joined by a single space when a title exists.
    Grades > 0 are positives (fractional grades included); grade 0 is a judged negative. Documents
    and queries with empty text are skipped with a :class:`DataWarning` and counted in
    ``data.skipped`` (with their judgments); ``strict=True`` refuses them instead.

    Example:
        >>> data = load_beir("../shared/data/scifact", split="train")  # doctest: +SKIP
        >>> len(data.mined_query_ids())  # doctest: +SKIP
        809
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/)")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DataError(f"{qrels_path}: split {split!r} not found; available splits: {available or 'none'}")
    doc_ids, doc_texts, empty_docs = _read_beir_records(folder / "corpus.jsonl", "document", strict)
    query_ids, query_texts, empty_queries = _read_beir_records(folder / "queries.jsonl", "query", strict)
    qrels, dropped = read_qrels(qrels_path, set(doc_ids), set(query_ids), (set(empty_docs), set(empty_queries)))
    data = RetrievalData(doc_ids, doc_texts, query_ids, query_texts, qrels, source=str(folder))
    data.skipped = {"empty_documents": len(empty_docs), "empty_queries": len(empty_queries),
                    "judgments_of_empty_texts": dropped}  # fmt: skip
    return data


def _as_texts(value: Any, where: str) -> list[str]:
    """A cell holding one text or a list of texts, as a list of non-empty strings."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)):
        values = list(values) if hasattr(values, "__iter__") else [values]
    out = []
    for v in values:
        if not isinstance(v, str):
            raise DataError(f"{where}: expected text, got {type(v).__name__}")
        if not v.strip():
            raise DataError(f"{where}: empty text")
        out.append(v)
    return out


@dataclass(frozen=True)
class Columns:
    """Which columns of a pair table hold what; None fields are guessed from the column names.

    Attributes:
        query: the query text column.
        positives: columns of positive document text(s) (with ``label``: the document column).
        negatives: columns of judged-negative document text(s).
        label: a relevance column: each row is then one (query, document, label) judgment, label > 0
            a positive and 0 a judged negative.
    """

    query: str | None = None
    positives: tuple[str, ...] | None = None
    negatives: tuple[str, ...] | None = None
    label: str | None = None


def _pick_columns(columns: list[str], where: str, given: Columns) -> tuple[str, list[str], list[str], str | None]:
    """Choose the query, positive, judged-negative and label columns of a pair table; refuse ambiguous guesses."""
    named = [given.query, *(given.positives or ()), *(given.negatives or ()), given.label]
    missing = [c for c in named if c is not None and c not in columns]
    if missing:
        raise DataError(f"{where}: no column {missing[0]!r}; columns are {columns}")
    lowered = {c.lower(): c for c in columns}
    query = given.query or next((lowered[c] for c in QUERY_COLUMNS if c in lowered), None)
    if query is None:
        raise DataError(f"{where}: no query column among {columns}; name it (query_column / --query-column)")
    label = given.label
    if label is None:
        looks_like_label = [c for c in columns if c.lower() in LABEL_COLUMNS]
        if looks_like_label and given.positives is None:
            raise DataError(
                f"{where}: column {looks_like_label[0]!r} looks like a relevance label, not a document; pass "
                f"label_column={looks_like_label[0]!r} (--label-column) and the document column "
                "(positive_columns / --positive-column)"
            )
    negatives = list(given.negatives) if given.negatives is not None else [
        c for c in columns if c.lower().startswith(NEGATIVE_COLUMNS) or c.lower() == "neg"]  # fmt: skip
    taken = {query, label, *negatives}
    if given.positives is not None:
        positives = list(given.positives)
    else:
        positives = [c for c in columns if c not in taken and c.lower().startswith(POSITIVE_COLUMNS)]
        others = [c for c in columns if c not in taken]
        if not positives and len(others) == 1:
            positives = others  # one text column beside the query: unambiguous
        elif not positives:
            raise DataError(
                f"{where}: cannot tell which of {others} hold positive documents; name them "
                "(positive_columns / --positive-column)"
            )
    if label is not None and len(positives) != 1:
        raise DataError(f"{where}: with a label column, name exactly one document column, got {positives}")
    return query, positives, negatives, label


def _pairs_to_data(
    records: Iterable[tuple[int, dict[str, Any]]], source: str, corpus: RetrievalData | None, given: Columns
) -> RetrievalData:
    """Build a :class:`RetrievalData` from (line, record) pairs of query + positives [+ negatives]."""
    doc_ids = list(corpus.doc_ids) if corpus else []
    doc_texts = list(corpus.doc_texts) if corpus else []
    doc_by_text = {t: i for i, t in zip(doc_ids, doc_texts)}
    query_by_text: dict[str, str] = {}
    qrels: dict[str, dict[str, int | float]] = {}
    columns: tuple[str, list[str], list[str], str | None] | None = None

    def doc_id_for(text: str) -> str:
        if text not in doc_by_text:
            doc_by_text[text] = f"d{len(doc_ids)}"
            doc_ids.append(doc_by_text[text])
            doc_texts.append(text)
        return doc_by_text[text]

    for number, record in records:
        where = f"{source}:{number}"
        if columns is None:
            columns = _pick_columns(list(record), source, given)
        qcol, pcols, ncols, lcol = columns
        query = _as_texts(record.get(qcol), f"{where}: field {qcol!r}")
        if len(query) != 1:
            raise DataError(f"{where}: field {qcol!r}: missing or not a single query text")
        positives = [t for c in pcols for t in _as_texts(record.get(c), f"{where}: field {c!r}")]
        if not positives:
            raise DataError(f"{where}: no positive text in fields {pcols}")
        qid = query_by_text.setdefault(query[0], f"q{len(query_by_text)}")
        judged = qrels.setdefault(qid, {})
        if lcol is not None:
            grade = (
                _grade(Path(source), number, str(record.get(lcol, "")).strip())
                if record.get(lcol) is not None
                else None
            )
            if grade is None:
                raise DataError(f"{where}: field {lcol!r}: missing label")
            for text in positives:
                doc = doc_id_for(text)
                if doc in judged and judged[doc] != grade:
                    raise DataError(f"{where}: the pair (query, {text[:40]!r}) is labeled again with another grade")
                judged[doc] = grade
            continue
        for text in positives:
            judged[doc_id_for(text)] = 1
        for c in ncols:
            for text in _as_texts(record.get(c), f"{where}: field {c!r}"):
                judged.setdefault(doc_id_for(text), 0)
    if not qrels:
        raise DataError(f"{source}: no rows found")
    if not any(g > 0 for docs in qrels.values() for g in docs.values()):
        raise DataError(f"{source}: no row has a positive label (> 0) in column {columns[3]!r}")
    return RetrievalData(doc_ids, doc_texts, list(query_by_text.values()), list(query_by_text), qrels, source=source)


def load_corpus(path: str | Path) -> RetrievalData:
    """Load a document collection (BEIR-style JSONL, CSV or Parquet with ``text`` and optional ``_id``/``title``)."""
    path = Path(path)
    ids: list[str] = []
    texts: list[str] = []
    seen: dict[str, int] = {}
    for number, record in read_table(path):
        rid = text_field(path, number, record, "_id" if "_id" in record else "id", required=False) or f"d{len(ids)}"
        if rid in seen:
            raise DataError(f"{path}:{number}: field '_id': duplicate document id {rid!r} (first on line {seen[rid]})")
        seen[rid] = number
        text = join_title(
            text_field(path, number, record, "title", required=False), text_field(path, number, record, "text")
        )
        ids.append(rid)
        texts.append(text)
    if not ids:
        raise DataError(f"{path}: no documents found")
    return RetrievalData(ids, texts, [], [], {}, source=str(path))


def load_pairs(path: str | Path, corpus: str | Path | None = None, columns: Columns | None = None) -> RetrievalData:
    """Load a pair file: one row per query with its positive text(s), as JSONL, CSV or Parquet.

    Columns are named by ``columns`` (:class:`Columns`; CLI ``--query-column``, ``--positive-column``,
    ``--negative-column``, ``--label-column``) or guessed from their names: the query column is
    ``query``/``anchor``/``question``; positive columns ``pos``/``positive*``/``document``/``passage``
    (or the one other column when there is exactly one), each holding a text or a list of texts;
    ``neg``/``negative*`` columns become judged negatives. A guess that is not clear is refused with
    the option to set, never mined: no query column, several unnamed text columns, or a column that
    looks like a relevance label (``label``, ``score``, ...: ``query,doc,label`` rows need
    ``label_column="label"`` and ``positives=("doc",)``; label > 0 is a positive, 0 a judged negative).
    Without ``corpus`` the collection is the set of all texts in the file; with it, positives are
    matched to corpus documents by exact text and added when absent.

    Example:
        >>> load_pairs("pairs.csv", columns=Columns(query="q", positives=("doc",), label="label"))  # doctest: +SKIP
    """
    background = load_corpus(corpus) if corpus is not None else None
    return _pairs_to_data(read_table(path), str(path), background, columns or Columns())


def from_hf_dataset(dataset: Any, corpus: Iterable[str] | None = None, columns: Columns | None = None) -> RetrievalData:
    """Build data from a Hugging Face ``datasets.Dataset`` of (query, positive[, ...]) columns.

    ``corpus`` is an optional list of extra document texts that serve as negative candidates.

    Example:
        >>> from datasets import Dataset  # doctest: +SKIP
        >>> ds = Dataset.from_dict({"query": ["q"], "positive": ["p"]})  # doctest: +SKIP
        >>> from_hf_dataset(ds, corpus=["a", "b"]).doc_texts  # doctest: +SKIP
        ['a', 'b', 'p']
    """
    background = None
    if corpus is not None:
        texts = _as_texts(list(corpus), "corpus")
        unique = list(dict.fromkeys(texts))
        background = RetrievalData([f"d{i}" for i in range(len(unique))], unique, [], [], {}, source="corpus")
    records: Iterator[tuple[int, dict[str, Any]]] = enumerate(iter(dataset), start=1)
    return _pairs_to_data(records, "dataset", background, columns or Columns())


def load_data(
    path: str | Path,
    split: str = "train",
    corpus: str | Path | None = None,
    strict: bool = False,
    columns: Columns | None = None,
) -> RetrievalData:
    """Load a BEIR folder or a pair file, whichever ``path`` is (``strict``: see :func:`load_beir`;
    ``columns``: see :class:`Columns`, pair files only)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        if corpus is not None:
            raise DataError(f"{path}: --corpus applies to pair files; a BEIR folder has its own corpus.jsonl")
        if columns is not None and columns != Columns():
            raise DataError(f"{path}: column options apply to pair files; a BEIR folder has fixed fields")
        return load_beir(path, split, strict=strict)
    return load_pairs(path, corpus, columns)


def input_files(path: str | Path, corpus: str | Path | None = None) -> list[Path]:
    """The files a :func:`load_data` of ``path`` reads (every qrels split of a BEIR folder), for output checks.

    Example:
        >>> [p.name for p in input_files("trueneg/data/demo")][:2]
        ['corpus.jsonl', 'queries.jsonl']
    """
    path = Path(path)
    files = [path / "corpus.jsonl", path / "queries.jsonl", *sorted((path / "qrels").glob("*.tsv"))]
    found = files if path.is_dir() else [path]
    return found + ([Path(corpus)] if corpus is not None else [])
