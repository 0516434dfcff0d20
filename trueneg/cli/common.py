"""What every command module of the command line shares: the error console, the one way to fail, -q."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

err = Console(stderr=True)
CONTEXT = {"help_option_names": ["-h", "--help"]}
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars or library logs.")
JSON = typer.Option(False, "--json", help="Print one JSON object instead of the table.")


ERRORS = (ValueError, OSError, ImportError)  # DataError and OutputError are ValueErrors; missing files OSErrors


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """The commands' one error wrapper: a bad input, file or missing extra becomes ``error: ...`` and status 2."""
    try:
        yield
    except ERRORS as exc:
        fail(str(exc))


def print_json(payload: Any, indent: int | None = None) -> None:
    """``payload`` as JSON on stdout: one line, or indented (``mine``, ``audit``: the summaries people read)."""
    sys.stdout.write(json.dumps(payload, indent=indent) + "\n")


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit with status 2."""
    from rich.markup import escape

    # escaped: "pip install 'trueneg[train]'" must keep its brackets, which rich reads as markup
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def silence(quiet: bool) -> None:
    """With -q: no progress bars or info logs from the libraries underneath (model loading, exports)."""
    if not quiet:
        return
    import warnings

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["TQDM_DISABLE"] = "1"  # the libraries' own bars too (sentence-transformers' "Computing widget examples")
    for module in ("torch.onnx", "torch.jit", "transformers", "onnxruntime"):  # the ONNX export's tracer warnings
        warnings.filterwarnings("ignore", module=module)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        pass


def print_mapping(title: str, summary: dict[str, Any], as_json: bool) -> None:
    """A summary as one JSON line (``--json``) or a two-column table (a ``selection``: one row per setting)."""
    if as_json:
        print_json(summary)
        return
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in summary.items():
        if key == "selection":
            for setting, pick in value.items():
                rows = ", ".join(
                    f"{c['name']} {c[next(n for n in c if n.startswith('ndcg@'))]:.4f}"
                    + (f" ({c['gain']:+.4f}, low {c['gain_low']:+.4f})" if c["name"] != pick["candidates"][0]["name"]
                       else "")
                    for c in pick["candidates"]
                )  # fmt: skip
                table.add_row(f"{setting.replace('_', ' ')} (validation)", f"{pick['chosen']} of {rows}; "
                              f"{pick['fits']} fits, {pick['seconds']} s")  # fmt: skip
            continue
        table.add_row(key.replace("_", " "), str(value))
    err.print(table)
