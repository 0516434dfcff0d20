"""Atomic file writes and row serialisation shared by every command that writes output.

Every file trueneg writes goes through :func:`atomic_path`: the data is written to a temporary
file in the destination folder and renamed over the target only once it is complete, so an
interrupted or failed run never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROW_SUFFIXES = (".jsonl", ".parquet")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` on success.

    Example:
        >>> with atomic_path("out.json") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success it replaces ``target`` (removed first).

    On any failure the temporary folder is deleted and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        staging.chmod(0o777 & ~_umask())  # mkdtemp creates 0700
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(target: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def check_rows_suffix(path: str | os.PathLike) -> None:
    """Raise ``ValueError`` unless ``path`` ends in ``.jsonl`` or ``.parquet``."""
    if Path(path).suffix.lower() not in ROW_SUFFIXES:
        raise ValueError(f"{path}: output must end in .jsonl or .parquet, got {Path(path).suffix!r}")


def write_rows(target: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    """Write dict rows as JSON Lines or Parquet (chosen by the suffix), atomically."""
    check_rows_suffix(target)
    with atomic_path(target) as tmp:
        if Path(target).suffix.lower() == ".jsonl":
            with tmp.open("w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(list(rows)), tmp)
