"""Read multi-label tables: MULAN ARFF + label XML, CSV/Parquet with named label columns, or .npy matrices."""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trueneg.data.dataset import DataError


def _open_text(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 (byte {exc.start})") from None


def _sparse_row(text: str, width: int, path: Path, number: int) -> list[float]:
    """A sparse ARFF row ``{i v, j w, ...}`` as a dense list of ``width`` values."""
    if not text.endswith("}"):
        raise DataError(f"{path}:{number}: sparse row does not end with '}}'")
    row = [0.0] * width
    body = text[1:-1].strip()
    for item in body.split(",") if body else []:
        parts = item.split()
        if len(parts) != 2:
            raise DataError(f"{path}:{number}: sparse entry {item.strip()!r} is not 'index value'")
        try:
            index, value = int(parts[0]), float(parts[1])
        except ValueError:
            raise DataError(f"{path}:{number}: sparse entry {item.strip()!r} is not numeric") from None
        if not 0 <= index < width:
            raise DataError(f"{path}:{number}: sparse index {index} outside the {width} attributes")
        row[index] = value
    return row


def load_mulan(arff: str | Path, xml: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(X, Y, label_names)`` from a numeric MULAN ARFF (dense or sparse rows) and its label XML.

    Sparse rows (``{index value, ...}``, MULAN's larger sets) list only the non-zero attributes.

    Example:
        >>> X, Y, names = load_mulan("../shared/data/multilabel/yeast.orig.arff.gz",
        ...                          "../shared/data/multilabel/yeast.xml.gz")  # doctest: +SKIP
        >>> X.shape, Y.shape  # doctest: +SKIP
        ((2417, 103), (2417, 14))
    """
    arff, xml = Path(arff), Path(xml)
    label_names = re.findall(r'<label\s+name="([^"]+)"', "\n".join(_open_text(xml)))
    if not label_names:
        raise DataError(f"{xml}: no <label name=...> entries")
    attributes: list[str] = []
    rows: list[list[float]] = []
    in_data = False
    for number, line in enumerate(_open_text(arff), start=1):
        text = line.strip()
        if not text or text.startswith("%"):
            continue
        if not in_data:
            lower = text.lower()
            if lower.startswith("@attribute"):
                match = re.match(r"@attribute\s+('[^']*'|\S+)\s+(.+)", text, re.IGNORECASE)
                if match is None:
                    raise DataError(f"{arff}:{number}: malformed @attribute line")
                attributes.append(match.group(1).strip("'"))
            elif lower.startswith("@data"):
                in_data = True
            continue
        if text.startswith("{"):
            rows.append(_sparse_row(text, len(attributes), arff, number))
            continue
        fields = text.split(",")
        if len(fields) != len(attributes):
            raise DataError(f"{arff}:{number}: expected {len(attributes)} values, got {len(fields)}")
        try:
            rows.append([float(v) for v in fields])
        except ValueError:
            raise DataError(f"{arff}:{number}: non-numeric value") from None
    missing = [name for name in label_names if name not in attributes]
    if missing:
        raise DataError(f"{arff}: label attributes {missing} named in {xml.name} are not in the ARFF header")
    table = np.asarray(rows, dtype=np.float64)
    label_cols = [attributes.index(name) for name in label_names]
    feature_cols = [i for i in range(len(attributes)) if i not in set(label_cols)]
    return table[:, feature_cols].astype(np.float32), table[:, label_cols].astype(np.int64), label_names


@dataclass
class MultiLabelData:
    """Features ``X`` ``(n, d)``, annotations ``Y`` ``(n, L)`` (1 = annotated, 0 = not), label names, source."""

    X: np.ndarray
    Y: np.ndarray
    label_names: list[str]
    source: str

    @property
    def unannotated_rows(self) -> int:
        """Rows without any annotated positive (kept: each of their labels may be present or absent)."""
        return int((self.Y.sum(1) == 0).sum())


def load_multilabel(
    data: str | Path,
    labels: str | Path | None = None,
    *,
    label_columns: Sequence[str] | None = None,
    xml: str | Path | None = None,
) -> MultiLabelData:
    """Read a multi-label table in any of the formats trueneg takes, by the file's suffix.

    - MULAN ``.arff`` / ``.arff.gz``: label attributes named by ``xml`` (default: the ``.xml`` or
      ``.xml.gz`` beside it with the same stem), dense or sparse rows;
    - ``.csv`` / ``.parquet``: ``label_columns`` name the 0/1 label columns, every other column is a
      numeric feature;
    - ``.npy``: the feature matrix, with ``labels`` the ``.npy`` 0/1 label matrix.

    Example:
        >>> data = load_multilabel("../shared/data/multilabel/yeast.orig.arff.gz")  # doctest: +SKIP
        >>> data.X.shape, data.Y.shape  # doctest: +SKIP
        ((2417, 103), (2417, 14))
    """
    data = Path(data)
    suffixes = "".join(data.suffixes[-2:]).lower()
    if suffixes.endswith((".arff", ".arff.gz")):
        xml = Path(xml) if xml is not None else _beside(data)
        X, Y, names = load_mulan(data, xml)
    elif data.suffix.lower() in (".csv", ".parquet"):
        if not label_columns:
            raise DataError(f"{data}: name the label columns (label_columns=, --label-columns)")
        X, Y, names = _read_table(data, list(label_columns))
    elif data.suffix.lower() == ".npy":
        if labels is None:
            raise DataError(f"{data}: a .npy feature matrix needs its .npy label matrix (labels=, LABELS)")
        X, Y = _read_npy(data, "features", 2), _read_npy(Path(labels), "labels", 2)
        _check_binary(Y, Path(labels), [f"column {j}" for j in range(Y.shape[1])], first_line=0)
        if len(X) != len(Y):
            raise DataError(f"{labels}: {len(Y)} label rows for the {len(X)} feature rows of {data}")
        names = [str(j) for j in range(Y.shape[1])]
    else:
        raise DataError(f"{data}: read .arff(.gz) with its label XML, .csv/.parquet with label columns, or .npy")
    if not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(1))[0])
        raise DataError(f"{data}: row {row} holds a missing or non-finite feature value")
    if Y.shape[1] == 0 or len(Y) == 0:
        raise DataError(f"{data}: no rows or no label columns")
    return MultiLabelData(X.astype(np.float32), Y.astype(np.int64), names, str(data))


def _beside(arff: Path) -> Path:
    stem = arff.name.removesuffix(".gz").removesuffix(".arff").removesuffix(".orig")
    for name in (f"{stem}.xml", f"{stem}.xml.gz"):
        if (arff.parent / name).is_file():
            return arff.parent / name
    raise DataError(f"{arff}: no label XML beside it ({stem}.xml or {stem}.xml.gz); pass it (xml=, --xml)")


def _read_npy(path: Path, what: str, ndim: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the {what} as a NumPy .npy file ({exc})") from None
    if array.ndim != ndim or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path}: the {what} must be a numeric {ndim}-D array, got {array.ndim}-D {array.dtype}")
    return array


def _check_binary(Y: np.ndarray, path: Path, names: list[str], first_line: int) -> None:
    bad = ~np.isin(Y, (0, 1))
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        where = f"line {row + first_line}" if first_line else f"row {row}"
        raise DataError(f"{path}: {where}, {names[col]}: a label must be 0 or 1, got {Y[row, col]!r}")


def _read_table(path: Path, label_columns: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        table = pacsv.read_csv(path) if path.suffix.lower() == ".csv" else pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for malformed files
        raise DataError(f"{path}: cannot read the table ({str(exc).splitlines()[0]})") from None
    missing = [name for name in label_columns if name not in table.column_names]
    if missing:
        raise DataError(f"{path}: label columns {missing} not in the header ({', '.join(table.column_names)})")
    first_line = 2 if path.suffix.lower() == ".csv" else 0
    features = [name for name in table.column_names if name not in label_columns]
    columns = {}
    for name in features + label_columns:
        values = table.column(name).to_numpy(zero_copy_only=False)
        if not np.issubdtype(values.dtype, np.number) and values.dtype != bool:
            row = next((i for i, v in enumerate(values) if not isinstance(v, (int, float))), 0)
            where = f"line {row + first_line}" if first_line else f"row {row}"
            raise DataError(f"{path}: {where}, column {name!r}: not a number ({values[row]!r})")
        columns[name] = values.astype(np.float64)
    X = np.column_stack([columns[n] for n in features]) if features else np.zeros((table.num_rows, 0))
    Y = np.column_stack([columns[n] for n in label_columns])
    _check_binary(np.nan_to_num(Y, nan=-1), path, [f"column {n!r}" for n in label_columns], first_line)
    return X, Y.astype(np.int64), list(label_columns)
