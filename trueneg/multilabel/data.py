"""Read MULAN multi-label data sets: a (gzipped) ARFF file plus the XML that names the label attributes."""

from __future__ import annotations

import gzip
import re
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
