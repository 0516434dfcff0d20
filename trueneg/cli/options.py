"""Options shared by the commands, declared once, and the settings objects built from them.

A command declares its own few parameters and names the option groups it takes; :func:`command`
gives typer the whole signature, and the command receives the group options as ``**o``. The
defaults come from the library's objects (``MiningConfig()``, ``ScaleConfig()``,
``SentenceTransformerEncoder()``), so a default is written once; the builders below turn ``o``
into those objects.
"""

from __future__ import annotations

import ast
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from trueneg.candidates.encoders import SentenceTransformerEncoder
from trueneg.cli.common import JSON, QUIET
from trueneg.mining.config import MiningConfig, ScaleConfig

Group = dict[str, tuple[Any, Any]]  # option name -> (type, typer.Option)
MINE, SCALE = MiningConfig(), ScaleConfig()
ENCODER = SentenceTransformerEncoder()  # its settings only: nothing loads before the first encode


def command(app: typer.Typer, name: str | None, *groups: Group) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``func`` as ``name`` with its own parameters followed by the options of ``groups``."""

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(func)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(func).parameters.values()
            if p.kind is not p.VAR_KEYWORD
        ]
        extra = [
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
            for group in groups
            for key, (kind, option) in group.items()
        ]

        @functools.wraps(func)
        def wrapper(**options: Any) -> None:
            return func(**options)

        del wrapper.__wrapped__  # typer reads the signature below, not func's
        wrapper.__signature__ = inspect.Signature([*own, *extra])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in (*own, *extra)}
        return app.command(name=name)(wrapper)

    return decorate


def default_of(where: str, name: str) -> Any:
    """The library's default of parameter ``name`` of ``where`` (``"module:function"`` or ``"module:Class"``, its
    constructor), read from the source without importing it (the recommender modules import torch, which the
    command line should not pay for on every start), so the default is written once, in the library.

    Example:
        >>> default_of("trueneg.recommendation.model:MatrixFactorization", "factors")
        64
    """
    module, qualname = where.split(":")
    for node in _definitions(module):
        if node.name == qualname:
            function = next((n for n in node.body if getattr(n, "name", None) == "__init__"), node)
            args = function.args
            named = [*args.posonlyargs, *args.args]
            pairs = [*zip(named[len(named) - len(args.defaults) :], args.defaults)]
            pairs += zip(args.kwonlyargs, args.kw_defaults)
            for arg, value in pairs:
                if arg.arg == name:
                    return ast.literal_eval(value)
    raise LookupError(f"{where} has no parameter {name!r} with a literal default")


@functools.cache
def _definitions(module: str) -> tuple[ast.FunctionDef | ast.ClassDef, ...]:
    # the file of a trueneg module, found without importing its package (find_spec would run its __init__)
    _, _, rest = module.partition(".")
    source = (Path(__file__).parents[1] / f"{rest.replace('.', '/')}.py").read_text(encoding="utf-8")
    return tuple(n for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))


def pick(options: dict[str, Any], kind: type) -> dict[str, Any]:
    """The entries of ``options`` that are fields of the settings class ``kind``."""
    return {key: options[key] for key in kind.field_names() if key in options}


OUTPUT_FLAGS: Group = {"as_json": (bool, JSON), "quiet": (bool, QUIET)}

DATA = typer.Argument(..., help="BEIR folder, or a pair file (.jsonl/.csv/.parquet) of query + positive(s).")
STRICT = typer.Option(
    False, "--strict", help="Refuse documents and queries with empty text instead of skipping them with a warning."
)
COLUMNS: Group = {
    "split": (str, typer.Option("train", help="qrels split of a BEIR folder.")),
    "corpus": (Path | None, typer.Option(None, help="Extra document collection for a pair file.")),
    "query_column": (str | None, typer.Option(None, help="Pair files: the query column [guessed from the names].")),
    "positive_column": (list[str] | None, typer.Option(
        None, help="Pair files: a positive (or, with --label-column, the document) column; repeatable.")),
    "negative_column": (list[str] | None, typer.Option(None, help="Pair files: a judged-negative column; repeatable.")),
    "label_column": (str | None, typer.Option(
        None, help="Pair files: a relevance column (> 0 positive, 0 judged negative): one judgment per row.")),
    "strict": (bool, STRICT),
}  # fmt: skip

ENCODING: Group = {
    "model": (str | None, typer.Option(
        None, help="sentence-transformers model name or path [default: offline all-MiniLM-L6-v2].")),
    "backend": (str, typer.Option(
        ENCODER.backend, help="Encoder backend: torch (full precision) or onnx-int8 (faster on CPU).")),
    "query_prompt": (str | None, typer.Option(None, help="Prompt prepended to queries.")),
    "document_prompt": (str | None, typer.Option(None, help="Prompt prepended to documents.")),
    "batch_size": (int, typer.Option(ENCODER.batch_size, help="Encoding batch size.")),
    "cache_dir": (Path | None, typer.Option(
        None, help="Embedding cache folder [default: $TRUENEG_CACHE or ~/.cache/trueneg].")),
    "no_cache": (bool, typer.Option(False, "--no-cache", help="Do not read or write the embedding cache.")),
}  # fmt: skip

TEACHER: Group = {
    "teacher": (str | None, typer.Option(
        None, help="A second model (bi-encoder or cross-encoder): the detector's second opinion (mine: it also "
        "rescores the candidates).")),
    "teacher_type": (str, typer.Option(MINE.teacher_type, help="auto, bi-encoder or cross-encoder.")),
}  # fmt: skip

EMBEDDINGS: Group = {
    "corpus_embeddings": (Path | None, typer.Option(
        None, help="Precomputed corpus embeddings: .npy (rows in corpus order) or .parquet (id + vector columns).")),
    "query_embeddings": (Path | None, typer.Option(
        None, help="Precomputed query embeddings: .npy (rows in queries order) or .parquet (id + vector columns).")),
    "index": (str | None, typer.Option(
        None, help="Vector index: auto, exact, ivf, ivfpq or hnsw [default: auto with scale options, else exact].")),
    "max_memory": (str | None, typer.Option(
        None, help="Memory budget for the index and one query chunk, e.g. 4GiB [default: 4GiB].")),
}  # fmt: skip


def cache(o: dict[str, Any]) -> Any:
    """The embedding cache of ``--cache-dir`` / ``--no-cache``."""
    return False if o.get("no_cache") else o.get("cache_dir")


def encoder_from(o: dict[str, Any], model: str | None = None) -> SentenceTransformerEncoder:
    """The encoder of the :data:`ENCODING` options (``model`` overrides ``--model``)."""
    return SentenceTransformerEncoder(
        model if model is not None else o.get("model"), backend=o.get("backend", ENCODER.backend),
        query_prompt=o.get("query_prompt"), document_prompt=o.get("document_prompt"),
        batch_size=o.get("batch_size", ENCODER.batch_size), cache_dir=cache(o), show_progress=not o.get("quiet"),
    )  # fmt: skip


def columns_from(o: dict[str, Any]) -> Any:
    """The pair-file column choice of the :data:`COLUMNS` options (None fields are guessed)."""
    from trueneg.data import Columns

    listed = {key: tuple(o[key]) if o.get(key) else None for key in ("positive_column", "negative_column")}
    return Columns(o.get("query_column"), listed["positive_column"], listed["negative_column"], o.get("label_column"))


def load_from(data: Path, o: dict[str, Any]) -> Any:
    """The retrieval data of ``data`` with the :data:`COLUMNS` options."""
    from trueneg.data import load_data

    return load_data(data, split=o["split"], corpus=o.get("corpus"), strict=o["strict"], columns=columns_from(o))


def scale_from(o: dict[str, Any], **fields: Any) -> ScaleConfig | None:
    """The :class:`ScaleConfig` of the :data:`EMBEDDINGS` options, or None when none selects the scale path."""
    keys = ("corpus_embeddings", "query_embeddings", "index", "max_memory", "engine")
    if all(o.get(key) is None for key in keys):
        return None
    return ScaleConfig(index=o.get("index") or SCALE.index, max_memory=o.get("max_memory") or SCALE.max_memory,
                       engine=o.get("engine") or SCALE.engine, **fields)  # fmt: skip


def judges_from(specs: list[str] | None) -> list[Any] | None:
    """The judges of ``--judge`` options (a ``ValueError`` names the bad one)."""
    from trueneg.mining.judges import parse_judge

    return [parse_judge(spec) for spec in specs] if specs else None
