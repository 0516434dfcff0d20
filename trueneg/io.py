"""The output policy shared by every command that writes, and row serialisation.

The rules, in one place:

- **Never an input.** :func:`check_output_path` resolves the output and refuses one that is (or
  whose folder would replace) a file this run reads: corpus, queries, qrels, pair file,
  embeddings, judgments.
- **Atomic.** Every file goes through :func:`atomic_path`: written to a temporary sibling, renamed
  over the target only once complete (and only if the run was not interrupted meanwhile), so a
  failed or interrupted run leaves the previous output as it was.
- **Marked temporaries.** Temporary names follow one exact pattern with a marker,
  ``.NAME.trueneg-tmp.PID.XXXXXXXX`` (folders also hold a ``.trueneg-staging`` file). A later write
  to the same target removes only those whose process is gone; nothing else is ever deleted.
- **Folders replaced when complete.** :func:`atomic_dir` builds the new folder beside the old one
  and swaps them; an existing folder is replaced only when it is empty or holds the marker file of
  a previous trueneg output (``marker``), never the current folder or one that holds an input.
- **One-line errors.** A full disk, a file-size limit or a permission error while writing becomes
  an :class:`OutputError` naming the target and saying that the previous output is unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from trueneg import signals

ROW_SUFFIXES = (".jsonl", ".parquet")
MARK = "trueneg-tmp"
STAGING_MARK = ".trueneg-staging"
_FULL = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file exceeds the size this system allows"}
if hasattr(errno, "EDQUOT"):
    _FULL[errno.EDQUOT] = "the disk quota is exhausted"


class OutputError(ValueError):
    """An output that cannot be written, or must not be: the message names the path and the cause."""


def resolve(path: str | os.PathLike) -> Path:
    """``path`` made absolute, with ``~``, ``..`` and symbolic links resolved (``.`` becomes a named folder)."""
    return Path(path).expanduser().resolve()


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{MARK}.{os.getpid()}."


def _ours(path: Path, target: Path) -> int | None:
    """The writing process id when ``path`` is a temporary of ``target`` that trueneg made, else None."""
    match = re.fullmatch(rf"\.{re.escape(target.name)}\.{MARK}\.(\d+)\.[a-z0-9_]{{8}}", path.name)
    if match is None or path.is_symlink():
        return None
    if path.is_dir() and not (path / STAGING_MARK).is_file():
        return None
    return int(match.group(1))


def _write_error(target: Path, exc: OSError) -> OutputError:
    cause = _FULL.get(exc.errno or 0)
    if cause is None and isinstance(exc, PermissionError):
        cause = "permission denied"
    cause = cause or (exc.strerror or str(exc))
    return OutputError(f"{target}: cannot write it: {cause}; the previous {target.name} (if any) is unchanged")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` on success.

    Nothing replaces ``target`` when the block raises, or when the run was interrupted (Ctrl-C,
    SIGTERM) while it ran: the temporary file is deleted and :class:`KeyboardInterrupt` raised.
    A full disk or a permission error becomes an :class:`OutputError`.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.json"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("{}")
        >>> target.read_text()
        '{}'
    """
    target = resolve(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(target, exc) from None
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            signals.check()  # an interrupt swallowed on the way (a finalizer) still stops the commit
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
            os.replace(tmp, target)
        except OSError as exc:
            if isinstance(exc, OutputError):
                raise
            raise _write_error(target, exc) from None
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
    """Delete the temporaries of ``target`` that trueneg made (exact marked names) whose process is gone.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".out.jsonl.2024.bak").write_text("a user's file")
        >>> remove_stale(folder / "out.jsonl")
        []
        >>> sorted(p.name for p in folder.iterdir())
        ['.out.jsonl.2024.bak']
    """
    target = Path(target)
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    for path in target.parent.glob(f".{glob_escape(target.name)}.{MARK}.*"):
        pid = _ours(path, target)
        if pid is None or _alive(pid):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def check_writable(target: str | os.PathLike, what: str = "output") -> None:
    """Raise :class:`OutputError` now, before any work, if ``target`` cannot be written (as a file or a folder)."""
    target = Path(target)
    parent = resolve(target).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{target}: cannot write the {what}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{target}: cannot write the {what}: {parent} is not writable")
    try:  # permission bits do not tell everything (read-only mounts, /sys, /proc): try for real
        probe = tempfile.NamedTemporaryFile(dir=parent, prefix=f".trueneg-probe.{os.getpid()}.", delete=True)
        probe.close()
    except OSError as exc:
        raise OutputError(f"{target}: cannot write the {what} in {parent} ({exc.strerror})") from None


def check_output_path(
    target: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), what: str = "output"
) -> None:
    """Refuse ``target`` when it resolves to one of ``inputs`` (files this run reads), or cannot be written.

    A folder output (``what`` ending in "folder") is also refused when it is the current folder or one
    of its parents, or when it holds one of the inputs.

    Example:
        >>> check_output_path("corpus.jsonl", inputs=["./corpus.jsonl"])
        Traceback (most recent call last):
        ...
        trueneg.io.OutputError: corpus.jsonl: is an input of this run (./corpus.jsonl); write the output elsewhere
    """
    out = resolve(target)
    folder = what.endswith("folder")
    cwd = resolve(Path.cwd())
    if folder and (out == cwd or out in cwd.parents):
        raise OutputError(f"{target}: the {what} must not be the current folder or one above it; name a new folder")
    for given in inputs:
        if given is None:
            continue
        path = resolve(given)
        same = out == path or (out.exists() and path.exists() and os.path.samefile(out, path))
        if same or (folder and out in path.parents):
            held = "holds" if not same else "is"
            raise OutputError(f"{target}: {held} an input of this run ({given}); write the {what} elsewhere")
    check_writable(target, what)


def check_output_folder(
    target: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None] = (),
    *,
    marker: str,
    overwrite: bool = False,
    what: str = "output folder",
) -> None:
    """Refuse a folder output that :func:`atomic_dir` must not replace; raise before any work.

    Refused: an input or a folder holding one, the current folder or one above it, a file, and a
    non-empty folder unless it holds ``marker`` (the file every trueneg output of this kind has) and
    ``overwrite`` is set. A non-empty trueneg folder without ``overwrite`` is a ``FileExistsError``.
    """
    check_output_path(target, inputs, what)
    folder = Path(target)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{target}: the {what} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{target}: exists and is not empty; pass overwrite=True (--overwrite) to replace it")
        if not (folder / marker).is_file():
            raise OutputError(
                f"{target}: holds files that trueneg did not write (no {marker}), so --overwrite will not replace "
                f"it; name a new or empty folder"
            )


def _marked_dir(parent: Path, target: Path) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=parent))
    (staging / STAGING_MARK).write_text("made by trueneg; removed when complete\n")
    return staging


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; once the block succeeds it takes ``target``'s place.

    The old ``target`` (checked beforehand with :func:`check_output_folder`) is moved aside first and
    deleted only after the new folder is in place. On any failure or interrupt the temporary folder is
    deleted and ``target`` is left as it was.
    """
    target = resolve(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        staging = _marked_dir(target.parent, target)
    except OSError as exc:
        raise _write_error(target, exc) from None
    old: Path | None = None
    try:
        yield staging
        signals.check()
        staging.chmod(0o777 & ~_umask())  # mkdtemp creates 0700
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
            os.replace(target, old / "old")
            (old / STAGING_MARK).write_text("made by trueneg: the folder it replaced\n")
        os.replace(staging, target)
        (target / STAGING_MARK).unlink(missing_ok=True)
    except OSError as exc:
        if old is not None and not target.exists():  # put the old folder back
            os.replace(old / "old", target)
        raise _write_error(target, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def work_dir(name: str) -> Iterator[Path]:
    """A marked temporary folder ``TMPDIR/.NAME.trueneg-tmp.PID.XXXXXXXX``, removed on exit.

    Those left by a killed run (its process gone) are removed by the next run that asks for ``name``.
    """
    anchor = Path(tempfile.gettempdir()) / name
    remove_stale(anchor)
    work = _marked_dir(anchor.parent, anchor)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_json(target: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def check_rows_suffix(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Raise :class:`OutputError` unless ``path`` ends in ``.jsonl`` or ``.parquet``, is no input and can be written."""
    if Path(path).is_dir():
        raise OutputError(f"{path}: is a folder; the output must be a file")
    if Path(path).suffix.lower() not in ROW_SUFFIXES:
        raise OutputError(f"{path}: output must end in .jsonl or .parquet, got {Path(path).suffix!r}")
    check_output_path(path, inputs)


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

    def __exit__(self, *exc_info: Any) -> bool:
        try:
            self._close()
        except OSError as exc:  # a full disk shows up at the last flush
            if exc_info[0] is None:
                exc_info = (type(exc), exc, exc.__traceback__)
        return bool(self._context.__exit__(*exc_info))

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._parquet:
            if self._writer is None:  # no rows at all: still a valid, empty Parquet file
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({}), self._tmp)
            else:
                self._writer.close()


def write_rows(target: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    """Write dict rows as JSON Lines or Parquet (chosen by the suffix), atomically."""
    with RowWriter(target) as writer:
        writer.write(rows)


class Summary(dict):
    """What holds for a whole result, as a mapping: ``result.summary["..."]`` on every result.

    Calling it, the older spelling ``result.summary()``, still returns it, with a ``DeprecationWarning``.
    """

    def __call__(self) -> Summary:
        warnings.warn(
            "result.summary() is now the mapping result.summary (as on AuditResult and MiningSummary)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self


class RecordsResult:
    """The result vocabulary shared by every data shape: ``to_records()``, ``summary``, ``to_dict()``, ``write(path)``.

    A subclass gives :meth:`to_records` (one dict per flagged item, most likely first) and
    ``_summary()`` (what holds for the whole result, read as the mapping :attr:`summary`, the same
    meaning as ``AuditResult.summary`` and a mining run's ``MiningSummary``); ``to_dict()`` is both, and
    ``write(path)`` writes ``to_dict()`` as JSON for a ``.json`` path, or the records as rows for
    ``.jsonl`` / ``.parquet``, atomically.
    """

    records_key = "records"

    def to_records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    @property
    def summary(self) -> Summary:
        """What holds for the whole result (a mapping)."""
        return Summary(self._summary())

    def _summary(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """:meth:`to_records` under :attr:`records_key` (``"records"``), plus :attr:`summary`."""
        return {self.records_key: self.to_records(), **self.summary}

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
