"""Line-accurate readers for JSONL, CSV, TSV and Parquet that report errors by file, line and field."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trueneg.data.dataset import DataError

TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text) of a UTF-8 file, failing on the first undecodable line."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}:{number}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8"
                ) from None
            yield number, text.rstrip("\r\n")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for every non-blank line of a JSON Lines file."""
    for number, line in decoded_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: malformed JSON ({exc.msg}; line column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        yield number, obj


def read_delimited(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row dict keyed by the header) of a CSV/TSV file."""
    lines = decoded_lines(path)
    text = io.StringIO("\n".join(line for _, line in lines))
    reader = csv.DictReader(text, delimiter=delimiter)
    if not reader.fieldnames:
        raise DataError(f"{path}:1: empty file, expected a header row")
    for row in reader:
        number = reader.line_num
        if None in row or any(v is None for v in row.values()):
            raise DataError(
                f"{path}:{number}: expected {len(reader.fieldnames)} fields ({', '.join(reader.fieldnames)})"
            )
        yield number, row


def read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (row number, row dict) of a Parquet file; row numbers start at 1."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    yield from enumerate(table.to_pylist(), start=1)


def read_table(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line or row number, record) from a .jsonl, .csv or .parquet file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return read_jsonl(path)
    if suffix == ".csv":
        return read_delimited(path, ",")
    if suffix == ".parquet":
        return read_parquet(path)
    raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(TABLE_SUFFIXES)}")


def text_field(path: Path | str, number: int, record: dict[str, Any], name: str, required: bool = True) -> str:
    """Return ``record[name]`` as a non-empty string, or raise naming file, line and field."""
    value = record.get(name)
    if value is None:
        if required:
            raise DataError(f"{path}:{number}: missing field {name!r}")
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("_id", "id"):
        value = str(value)
    if not isinstance(value, str):
        raise DataError(f"{path}:{number}: field {name!r} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise DataError(f"{path}:{number}: field {name!r} is empty")
    return value
