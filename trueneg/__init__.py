"""trueneg: hard negatives that are truly negative.

Pipeline: :mod:`trueneg.data` (load and validate) -> :mod:`trueneg.candidates` (dense, BM25,
hybrid retrieval) -> :mod:`trueneg.mining` (false-negative filters, sampling, output).

The names below load on first use, so ``import trueneg`` (and the command line's start) stays quick.

Example:
    >>> import trueneg
    >>> rows = trueneg.mine("../shared/data/scifact", split="train", num_negatives=10)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_WHERE = {
    "SentenceTransformerEncoder": "trueneg.candidates.encoders",
    **dict.fromkeys(
        ["DataError", "RetrievalData", "from_hf_dataset", "load_beir", "load_data", "load_pairs", "sparse_labels"],
        "trueneg.data",
    ),
    **dict.fromkeys(
        [
            "MiningConfig",
            "MiningResult",
            "MiningSummary",
            "ScaleConfig",
            "mine",
            "mine_negatives",
            "mine_pool",
            "mine_to_file",
            "write_negatives",
        ],
        "trueneg.mining",
    ),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'trueneg' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
