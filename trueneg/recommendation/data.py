"""Implicit-feedback interaction logs: loading, validation and holdout splits.

An interaction is a (user, item) event; every interaction is a *positive*, and an item a user
never interacted with is *unlabeled*, not disliked. Accepted inputs:

- MovieLens ``u.data`` (tab-separated ``user item rating timestamp``, no header), or a MovieLens
  folder holding it; ``u.user`` / ``u.item`` beside it, when present, are the catalogues that every
  user and item id must belong to;
- CSV (``.csv``), TSV (``.tsv``/``.txt``) with a header row, and Parquet, with a user column
  (``user``, ``user_id``, ``userId``), an item column (``item``, ``item_id``, ``itemId``,
  ``movieId``) and optionally ``rating`` and ``timestamp`` (``time``, ``ts``).

Validation, every message naming file, line (row for Parquet) and field: wrong field counts, empty
ids, non-numeric ratings or timestamps, ids outside a given catalogue, invalid UTF-8 and
*duplicate events* (the same user, item and timestamp twice). The same (user, item) pair at
different times is one interaction: repeats are collapsed to the latest event, and counted in
:attr:`Interactions.collapsed`. Ids are kept as strings; users and items are indexed in catalogue
order when a catalogue is given, else in sorted id order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from trueneg.data.dataset import DataError
from trueneg.data.readers import decoded_lines

USER_COLUMNS = ("user", "user_id", "userid", "uid")
ITEM_COLUMNS = ("item", "item_id", "itemid", "movieid", "iid")
RATING_COLUMNS = ("rating", "ratings", "score")
TIME_COLUMNS = ("timestamp", "time", "ts", "datetime")
MOVIELENS_COLUMNS = ("user", "item", "rating", "timestamp")


@dataclass
class Interactions:
    """One interaction per (user, item) pair, users and items indexed ``0..n-1``.

    ``user_ids`` / ``item_ids`` map indices back to the file's ids; every split of one log shares them.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray | None
    timestamps: np.ndarray | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    source: str = ""
    collapsed: int = 0

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    def matrix(self) -> sp.csr_matrix:
        """Binary ``(n_users, n_items)`` CSR matrix of the interactions."""
        data = np.ones(len(self), dtype=np.float32)
        return sp.csr_matrix((data, (self.users, self.items)), shape=(self.n_users, self.n_items))

    def align(self, other: Interactions) -> tuple[Interactions, int]:
        """``other``'s interactions in this log's id space, and how many were dropped (unknown user or item).

        For a held-out log that the user brings: it is scored against a model fit on this log.
        """
        user_pos = {u: i for i, u in enumerate(self.user_ids.tolist())}
        item_pos = {t: i for i, t in enumerate(self.item_ids.tolist())}
        users = np.array([user_pos.get(u, -1) for u in other.user_ids[other.users].tolist()], dtype=np.int64)
        items = np.array([item_pos.get(t, -1) for t in other.item_ids[other.items].tolist()], dtype=np.int64)
        known = (users >= 0) & (items >= 0)
        aligned = replace(
            self,
            users=users[known],
            items=items[known],
            ratings=None if other.ratings is None else other.ratings[known],
            timestamps=None if other.timestamps is None else other.timestamps[known],
            source=other.source,
            collapsed=0,
        )
        return aligned, int((~known).sum())

    def keys(self) -> np.ndarray:
        """Sorted ``user * n_items + item`` codes, for fast membership tests."""
        return np.sort(self.users.astype(np.int64) * self.n_items + self.items)

    def subset(self, mask: np.ndarray) -> Interactions:
        """The interactions where ``mask`` is true, in the same id space."""
        return replace(
            self,
            users=self.users[mask],
            items=self.items[mask],
            ratings=None if self.ratings is None else self.ratings[mask],
            timestamps=None if self.timestamps is None else self.timestamps[mask],
            collapsed=0,
        )

    def item_popularity(self) -> np.ndarray:
        """Interactions per item, ``(n_items,)``."""
        return np.bincount(self.items, minlength=self.n_items)


@dataclass
class Split:
    """Training interactions and the held-out ones, in one id space."""

    train: Interactions
    test: Interactions


def physical_memory() -> int:
    """This machine's memory in bytes (the budgets of dense matrices and written rows are half of it)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _numbers(values: np.ndarray, dtype: type, path: Path, lines: np.ndarray, field: str) -> np.ndarray:
    try:
        out = values.astype(np.float64)
        bad = ~np.isfinite(out)
    except ValueError:
        bad = np.array([not _is_number(v) for v in values])  # error path only: find the first bad row
        out = None
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}:{lines[i]}: field '{field}': expected a number, got {str(values[i])!r}")
    fractional = out != np.round(out) if dtype is np.int64 else np.zeros(len(out), dtype=bool)
    if fractional.any():
        i = int(np.flatnonzero(fractional)[0])
        raise DataError(f"{path}:{lines[i]}: field '{field}': expected an integer, got {str(values[i])!r}")
    return out.astype(dtype)


def _is_number(value: str) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except ValueError:
        return False


def _pick(columns: list[str], aliases: tuple[str, ...], path: Path, what: str, required: bool) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    found = next((lowered[a] for a in aliases if a in lowered), None)
    if found is None and required:
        raise DataError(
            f"{path}:1: no {what} column (expected one of {', '.join(aliases)}; found {', '.join(columns)})"
        )
    return found


def _locate_bad_line(path: Path, delimiter: str, n_fields: int) -> DataError:
    """Find the first line with a wrong field count or bad encoding (slow path, errors only)."""
    for number, line in decoded_lines(path):
        got = len(line.split(delimiter))
        if got != n_fields:
            return DataError(f"{path}:{number}: expected {n_fields} fields separated by {delimiter!r}, got {got}")
    return DataError(f"{path}: cannot parse the file")


def _read_text_table(path: Path, delimiter: str, names: tuple[str, ...] | None) -> tuple[dict[str, np.ndarray], int]:
    """Columns of a delimited file as string arrays, and the line number of its first data row."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if names is None:
        header = next(iter(decoded_lines(path)), (1, ""))[1]
        if not header.strip():
            raise DataError(f"{path}:1: empty file, expected a header row")
        names, skip = tuple(h.strip() for h in header.split(delimiter)), 1
    else:
        skip = 0
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=list(names), skip_rows=skip),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise _locate_bad_line(path, delimiter, len(names)) from None
    return {n: np.asarray(table.column(n).to_numpy(zero_copy_only=False), dtype=str) for n in names}, skip + 1


def _read_parquet(path: Path) -> tuple[dict[str, np.ndarray], int]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: cannot read Parquet ({exc})") from None
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0]) + 1
            raise DataError(f"{path}: row {row}: field '{name}': missing value")
        try:
            columns[name] = np.asarray(pc.cast(column, pa.string()).to_numpy(zero_copy_only=False), dtype=str)
        except pa.ArrowNotImplementedError:
            continue  # a nested or binary column that cannot be an id, rating or timestamp: not read
    return columns, 1


def _catalogue(path: Path) -> np.ndarray | None:
    """Ids listed in a MovieLens ``u.user``/``u.item`` file (first ``|``-separated field), if it exists.

    MovieLens 100K writes titles in Latin-1; only the id field is read, so the file is decoded as Latin-1.
    """
    if not path.is_file():
        return None
    lines = path.read_bytes().decode("latin-1").splitlines()
    return np.asarray([line.split("|", 1)[0].strip() for line in lines if line.strip()], dtype=str)


def _index(values: np.ndarray, catalogue: np.ndarray | None, path: Path, lines: np.ndarray, field: str):
    if catalogue is None:
        ids, codes = np.unique(values, return_inverse=True)
        return ids, codes.astype(np.int64)
    order = np.argsort(catalogue, kind="stable")
    pos = np.searchsorted(catalogue, values, sorter=order)
    pos = np.minimum(pos, len(catalogue) - 1)
    codes = order[pos]
    unknown = catalogue[codes] != values
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise DataError(f"{path}:{lines[i]}: field '{field}': unknown id {str(values[i])!r} (not in the catalogue)")
    return catalogue, codes.astype(np.int64)


def load_interactions(
    path: str | Path,
    *,
    users: np.ndarray | list[str] | None = None,
    items: np.ndarray | list[str] | None = None,
    min_rating: float | None = None,
) -> Interactions:
    """Read and validate an interaction log (see the module docstring for formats and checks).

    Args:
        path: MovieLens ``u.data`` or its folder, ``.csv``, ``.tsv``/``.txt`` or ``.parquet``.
        users / items: catalogues of valid ids; ids outside them are errors. MovieLens folders
            default to ``u.user`` / ``u.item``.
        min_rating: keep only events rated at least this (needs a rating column); default: all.

    Example:
        >>> log = load_interactions("../shared/data/ml-100k")  # doctest: +SKIP
        >>> log.n_users, log.n_items, len(log)  # doctest: +SKIP
        (943, 1682, 100000)
    """
    path = Path(path)
    if path.is_dir():
        path = path / "u.data"
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".data":
        columns, first = _read_text_table(path, "\t", MOVIELENS_COLUMNS)
        users = _catalogue(path.parent / "u.user") if users is None else users
        items = _catalogue(path.parent / "u.item") if items is None else items
    elif suffix in (".csv", ".tsv", ".txt"):
        columns, first = _read_text_table(path, "," if suffix == ".csv" else "\t", None)
    elif suffix == ".parquet":
        columns, first = _read_parquet(path)
    else:
        raise DataError(f"{path}: unsupported file type {suffix!r} (use u.data, .csv, .tsv or .parquet)")
    names = list(columns)
    user_col = _pick(names, USER_COLUMNS, path, "user", True)
    item_col = _pick(names, ITEM_COLUMNS, path, "item", True)
    rating_col = _pick(names, RATING_COLUMNS, path, "rating", False)
    time_col = _pick(names, TIME_COLUMNS, path, "timestamp", False)
    n = len(columns[user_col])
    lines = np.arange(first, first + n)
    if n == 0:
        raise DataError(f"{path}: no interactions")
    for col in (user_col, item_col):
        values = np.char.strip(columns[col])
        empty = np.char.str_len(values) == 0
        if empty.any():
            raise DataError(f"{path}:{lines[np.flatnonzero(empty)[0]]}: field '{col}': empty id")
        columns[col] = values
    ratings = _numbers(columns[rating_col], np.float32, path, lines, rating_col) if rating_col else None
    timestamps = _numbers(columns[time_col], np.int64, path, lines, time_col) if time_col else None
    user_ids, u = _index(
        columns[user_col], None if users is None else np.asarray(users, dtype=str), path, lines, user_col
    )
    item_ids, i = _index(
        columns[item_col], None if items is None else np.asarray(items, dtype=str), path, lines, item_col
    )
    if min_rating is not None:
        if ratings is None:
            raise DataError(f"{path}: min_rating needs a rating column")
        keep = ratings >= min_rating
        u, i, lines, ratings = u[keep], i[keep], lines[keep], ratings[keep]
        timestamps = None if timestamps is None else timestamps[keep]
        if not len(u):
            raise DataError(f"{path}: no interaction is rated {min_rating} or more")
    return _deduplicate(path, lines, u, i, ratings, timestamps, user_ids, item_ids)


def _deduplicate(path, lines, u, i, ratings, timestamps, user_ids, item_ids) -> Interactions:
    """Reject repeated (user, item, timestamp) events; collapse repeats of a pair to its latest event."""
    pair = u * len(item_ids) + i
    t = timestamps if timestamps is not None else np.zeros(len(u), dtype=np.int64)
    order = np.lexsort((lines, t, pair))
    same = (pair[order][1:] == pair[order][:-1]) & (t[order][1:] == t[order][:-1])
    if same.any():
        k = int(np.flatnonzero(same)[0])
        a, b = lines[order][k], lines[order][k + 1]
        raise DataError(
            f"{path}:{b}: duplicate event: user {str(user_ids[u[order][k]])!r}, item {str(item_ids[i[order][k]])!r}"
            + (f", timestamp {t[order][k]}" if timestamps is not None else "")
            + f" already on line {a}"
        )
    last = np.r_[pair[order][1:] != pair[order][:-1], True]  # the latest event of every pair
    keep = np.sort(order[last])
    return Interactions(
        users=u[keep],
        items=i[keep],
        ratings=None if ratings is None else ratings[keep],
        timestamps=None if timestamps is None else timestamps[keep],
        user_ids=np.asarray(user_ids),
        item_ids=np.asarray(item_ids),
        source=str(path),
        collapsed=int(len(u) - len(keep)),
    )


def _rank_within_user(users: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of every interaction within its user when sorted by ``keys`` descending, and user sizes."""
    order = np.lexsort((-keys, users))
    sizes = np.bincount(users)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[users[order]]
    return rank, sizes[users]


def leave_last_out(data: Interactions, seed: int = 0) -> Split:
    """Hold out every user's latest interaction (ties and logs without timestamps: at random, seeded).

    Users with a single interaction keep it in training and have no test item.
    """
    rng = np.random.default_rng(seed)
    noise = rng.random(len(data))
    keys = noise if data.timestamps is None else data.timestamps.astype(np.float64) + 0.5 * noise
    rank, sizes = _rank_within_user(data.users, keys)
    test = (rank == 0) & (sizes >= 2)
    return Split(data.subset(~test), data.subset(test))


def random_holdout(data: Interactions, fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out ``round(fraction * n_u)`` random interactions of every user, keeping at least one for training.

    Also the hidden-positive protocol: hide a share of each user's training interactions and check
    how many come back as sampled negatives or as suspected missing positives.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    rank, sizes = _rank_within_user(data.users, rng.random(len(data)))
    held = rank < np.minimum(np.round(fraction * sizes), sizes - 1)
    return Split(data.subset(~held), data.subset(held))


SPLITS = {"leave-last-out": leave_last_out, "random": random_holdout}
