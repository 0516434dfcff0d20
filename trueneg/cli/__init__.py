"""The ``trueneg`` command line: a thin layer over the Python API.

One module per command group (:mod:`trueneg.cli.mine`, :mod:`~trueneg.cli.audit`, :mod:`~trueneg.cli.train`,
:mod:`~trueneg.cli.recommend`, :mod:`~trueneg.cli.multilabel`); the options they share are declared once in
:mod:`trueneg.cli.options`, with defaults read from the library's objects. Every command maps to one
documented function, with its settings object built from the options: ``trueneg mine`` ->
:func:`trueneg.mining.write_negatives` (:func:`trueneg.mine_negatives` in memory, or with the scale
options :func:`trueneg.mine_to_file`), ``trueneg audit`` -> :func:`trueneg.audit.audit` (with the scale
options :func:`trueneg.audit.audit_at_scale`), ``trueneg labels`` -> :func:`trueneg.labels.find_label_issues`,
``trueneg train`` -> :func:`trueneg.training.train`, ``trueneg eval`` ->
:func:`trueneg.evaluation.evaluate`; ``trueneg recommend train|negatives|audit`` ->
:func:`trueneg.recommendation.train_recommender`, :func:`~trueneg.recommendation.recommend_negatives`,
:func:`~trueneg.recommendation.audit_interactions`; ``trueneg demo`` mines the bundled SciFact slice.
"""

from __future__ import annotations

import os
import sys

import typer

from trueneg.cli import audit, mine, recommend, train
from trueneg.cli.common import CONTEXT
from trueneg.cli.multilabel import app as multilabel_app

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# rich_markup_mode=None: plain help, so "[default: ...]" and option texts with brackets are shown as written
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Hard negatives that are truly negative.",
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


def _version(value: bool) -> None:
    if value:
        from trueneg import __version__

        sys.stdout.write(f"trueneg {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Hard negatives that are truly negative: mine, audit, train and evaluate with false negatives in mind."""


for module in (mine, audit, train):
    for info in module.app.registered_commands:
        app.registered_commands.append(info)
app.add_typer(recommend.recommend_app, name="recommend")
app.add_typer(multilabel_app, name="multilabel")

if __name__ == "__main__":
    app()
