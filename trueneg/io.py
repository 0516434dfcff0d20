"""Atomic file writes and row serialisation shared by every command that writes output.

Every file trueneg writes goes through :func:`atomic_path`: the data is written to a temporary
file in the destination folder and renamed over the target only once it is complete, so an
interrupted or failed run never leaves a half-written file behind. Temporary names carry the
writing process's id (``.NAME.PID.XXXX.tmp``); a later write to the same target removes those whose
process is gone (left by ``kill -9``). :func:`check_writable` refuses an output that cannot be
written before any work starts.
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
    remove_stale(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale(target: str | os.PathLike) -> list[Path]:
    """Delete the temporary siblings of ``target`` (files or folders) whose writing process no longer runs."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    prefix = f".{target.name}."
    for path in target.parent.iterdir():
        if not path.name.startswith(prefix):
            continue
        pid = path.name[len(prefix) :].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def check_writable(target: str | os.PathLike, what: str = "output") -> None:
    """Raise ``ValueError`` now, before any work, if ``target`` cannot be written (as a file or a folder)."""
    target = Path(target)
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{target}: cannot write the {what}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{target}: cannot write the {what}: {parent} is not writable")
    try:  # permission bits do not tell everything (read-only mounts, /sys, /proc): try for real
        probe = tempfile.NamedTemporaryFile(dir=parent, prefix=f".trueneg-probe.{os.getpid()}.", delete=True)
        probe.close()
    except OSError as exc:
        raise ValueError(f"{target}: cannot write the {what} in {parent} ({exc.strerror})") from None


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
    remove_stale(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", dir=target.parent))
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
    """Raise ``ValueError`` unless ``path`` ends in ``.jsonl`` or ``.parquet`` and can be written."""
    if Path(path).is_dir():
        raise ValueError(f"{path}: is a folder; the output must be a file")
    if Path(path).suffix.lower() not in ROW_SUFFIXES:
        raise ValueError(f"{path}: output must end in .jsonl or .parquet, got {Path(path).suffix!r}")
    check_writable(path)


class RowWriter:
    """Append dict rows to a JSON Lines or Parquet file as they are produced; the file appears only on success.

    Rows go to a temporary file next to ``target`` (Parquet: one row group per :meth:`write`, all
    with the schema of the first batch); leaving the ``with`` block without an error renames it over
    ``target``, an error deletes it.

    Example:
        >>> with RowWriter("out.jsonl") as writer:  # doctest: +SKIP
        ...     writer.write([{"query": "q", "neg": ["d"]}])
    """

    def __init__(self, target: str | os.PathLike) -> None:
        check_rows_suffix(target)
        self.target = Path(target)
        self.rows_written = 0

    def __enter__(self) -> RowWriter:
        self._context = atomic_path(self.target)
        self._tmp = self._context.__enter__()
        self._parquet = self.target.suffix.lower() == ".parquet"
        self._file = None if self._parquet else self._tmp.open("w", encoding="utf-8")
        self._writer: Any = None
        return self

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append ``rows``."""
        if not rows:
            return
        if self._parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._writer is None:
                table = pa.Table.from_pylist(list(rows))
                self._writer = pq.ParquetWriter(self._tmp, table.schema)
            else:
                table = pa.Table.from_pylist(list(rows), schema=self._writer.schema)
            self._writer.write_table(table)
        else:
            for row in rows:
                self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.rows_written += len(rows)

    def __exit__(self, *exc_info: Any) -> None:
        if self._file is not None:
            self._file.close()
        if self._parquet:
            if self._writer is None:  # no rows at all: still a valid, empty Parquet file
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({}), self._tmp)
            else:
                self._writer.close()
        self._context.__exit__(*exc_info)


def write_rows(target: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    """Write dict rows as JSON Lines or Parquet (chosen by the suffix), atomically."""
    with RowWriter(target) as writer:
        writer.write(rows)


class RecordsResult:
    """The result vocabulary shared by every data shape: ``to_records()``, ``to_dict()``, ``write(path)``.

    A subclass gives :meth:`to_records` (one dict per flagged item, most likely first) and
    :meth:`summary` (what holds for the whole result); ``to_dict()`` is both, and ``write(path)``
    writes ``to_dict()`` as JSON for a ``.json`` path, or the records as rows for ``.jsonl`` /
    ``.parquet``, atomically.
    """

    records_key = "records"

    def to_records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """:meth:`to_records` under :attr:`records_key` (``"records"``), plus :meth:`summary`."""
        return {self.records_key: self.to_records(), **self.summary()}

    def write(self, path: str | os.PathLike) -> Path:
        """``.json``: :meth:`to_dict`; ``.jsonl`` / ``.parquet``: :meth:`to_records` as rows. Returns the path."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            check_writable(path)
            write_json(path, self.to_dict())
        else:
            if path.suffix.lower() not in ROW_SUFFIXES:
                raise ValueError(f"{path}: write to a .json, .jsonl or .parquet file, got {path.suffix!r}")
            write_rows(path, self.to_records())
        return path
