"""The output formats of ``trueneg mine``: one module per format, each with its writer and its reader.

A format module has ``NAME``, ``KEY`` (the field a sidecar row is matched on), ``FIELDS`` (the
fields that identify it), ``EXTRA`` (the fields kept out of trainer-ready rows, see
:func:`trueneg.mining.result.split_rows`), ``write(QueryRows) -> rows`` and
``read(path, line, record, Examples)``. :meth:`trueneg.mining.MiningResult.to_rows` writes with them and
:func:`trueneg.training.load_examples` reads with them.

Example:
    >>> [module.NAME for module in MODULES.values()]
    ['flagembedding', 'triplet', 'n-tuple', 'labeled-list']
    >>> format_of("rows.jsonl", 1, {"anchor": "q", "docs": ["p"], "labels": [1]})
    'labeled-list'
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from trueneg.data.dataset import DataError
from trueneg.mining.formats import flagembedding, labeled_list, ntuple, triplet
from trueneg.mining.formats.base import Examples, QueryRows

MODULES: dict[str, ModuleType] = {m.NAME: m for m in (flagembedding, triplet, ntuple, labeled_list)}
FORMATS = tuple(MODULES)
EXTRA_FIELDS = {name: m.EXTRA for name, m in MODULES.items()}
_DETECTION = (flagembedding, labeled_list, triplet, ntuple)  # the most specific field set first

__all__ = ["EXTRA_FIELDS", "FORMATS", "MODULES", "Examples", "QueryRows", "format_of"]


def format_of(path: str | os.PathLike, number: int, record: dict[str, Any]) -> str:
    """The format whose fields the row at line ``number`` has (a ``DataError`` names the fields otherwise)."""
    for module in _DETECTION:
        if module.FIELDS <= record.keys():
            return module.NAME
    raise DataError(
        f"{path}:{number}: cannot tell the format from fields {sorted(record)}; expected a `trueneg mine` output "
        "(flagembedding: query/pos/neg, triplet: anchor/positive/negative, n-tuple: anchor/positive/negative_1.., "
        "labeled-list: anchor/docs/labels)"
    )
