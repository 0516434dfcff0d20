"""``trueneg multilabel find|train``: multi-label tables whose unannotated labels may be missing positives.

``find`` -> :func:`trueneg.multilabel.cross_val_probabilities` + :func:`trueneg.multilabel.find_missing_labels`;
``train`` -> :class:`trueneg.multilabel.MultiLabelMLP` (``fit``, ``save``, and test mAP against a
fully labeled test table). Both read with :func:`trueneg.multilabel.load_multilabel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from trueneg.cli.common import CONTEXT, JSON, QUIET, err, fail, print_json, silence
from trueneg.cli.options import Group, command

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=CONTEXT,
    help="Multi-label tables (MULAN ARFF, CSV/Parquet, .npy): an unannotated label is not a negative.",
)

DATA = typer.Argument(
    ..., help="Features and labels: .arff(.gz) (with its label XML), .csv/.parquet, or .npy features."
)
LABELS = typer.Argument(None, help="With .npy features: the (n, labels) 0/1 .npy label matrix.")
XML = typer.Option(None, "--xml", help="ARFF: the MULAN label XML [the .xml(.gz) beside the ARFF].")
LABEL_COLUMNS = typer.Option(None, "--label-columns", help="CSV/Parquet: the 0/1 label columns, comma-separated.")
LOSS = typer.Option(
    "auto", help="auto (chosen by validation on the data), bce, wan, asl, em, em-apl, ll-r, ll-ct, role, nnpu, pu-mlc."
)
EPOCHS = typer.Option(100, help="Training epochs (with auto: the most the selection tries).")
SEED = typer.Option(0, help="Seed of the splits, the initialisation and the batches.")


def _read(data: Path, labels: Path | None, xml: Path | None, label_columns: str | None) -> Any:
    from trueneg.data import DataError
    from trueneg.multilabel import load_multilabel

    columns = [c.strip() for c in label_columns.split(",") if c.strip()] if label_columns else None
    try:
        table = load_multilabel(data, labels, label_columns=columns, xml=xml)
    except DataError as exc:
        fail(str(exc))
    if table.Y.sum() == 0:
        fail(f"{data}: no annotated positive at all; the methods learn from observed positives")
    if table.unannotated_rows:
        err.print(
            f"[yellow]note:[/] {table.unannotated_rows} of {len(table.Y)} rows have no annotated positive; they are "
            "kept, every label of theirs unobserved (present or absent, as the losses assume)",
            soft_wrap=True,
        )
    return table


def _model(loss: str, epochs: int, seed: int) -> Any:
    from trueneg.multilabel import LOSSES, MultiLabelMLP

    if loss not in ("auto", *LOSSES):
        fail(f"--loss must be one of auto, {', '.join(LOSSES)}; got {loss!r}")
    if epochs < 1:
        fail(f"--epochs must be at least 1, got {epochs}")
    return MultiLabelMLP(loss=loss, epochs=epochs, seed=seed)


def _fit_message(model: Any) -> str:
    chosen = f"{getattr(model, 'loss_', model.loss)} for {getattr(model, 'epochs_', model.epochs)} epochs"
    if not hasattr(model, "selection_"):
        return chosen
    scores = model.selection_.summary["candidates"]
    ranked = sorted(scores.items(), key=lambda item: -item[1]["validation_score"])
    listed = ", ".join(f"{name} {s['validation_score']:.4f}@{s['epochs']}" for name, s in ranked)
    return f"{chosen}, chosen by validation ({listed})"


FIND_FLAGS: Group = {
    "confidence": (float, typer.Option(0.9, help="Level of the interval of the expected count.")),
    "top": (int, typer.Option(20, help="Rows shown in the table (at least 0).")),
    "as_json": (bool, JSON),
    "quiet": (bool, QUIET),
}


@command(app, "find", FIND_FLAGS)
def find(
    data: Path = DATA,
    labels: Path | None = LABELS,
    xml: Path | None = XML,
    label_columns: str | None = LABEL_COLUMNS,
    loss: str = LOSS,
    epochs: int = EPOCHS,
    count_loss: str = typer.Option("ll-r", help="The loss of the model the missing labels are counted with."),
    folds: int = typer.Option(2, help="Cross-fitting folds: every row is scored by a model that did not train on it."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write every ranked pair (.jsonl, .parquet, .json)."
    ),
    seed: int = SEED,
    **o: Any,
) -> None:
    """Rank the unannotated (row, label) pairs by how likely the label applies, and count the missing ones.

    The count is the expected number of missing positives, with an interval: the ROCTail label
    frequency over the cross-fitted probabilities of a --count-loss model (it assumes the annotated
    positives are a random sample of all positives).
    """
    from trueneg.io import OutputError, check_output_path
    from trueneg.multilabel import cross_val_probabilities, find_missing_labels

    silence(o["quiet"])
    top, confidence = o["top"], o["confidence"]
    if top < 0:
        fail(f"--top must be at least 0, got {top}")
    if not 0 < confidence < 1:
        fail(f"--confidence must be between 0 and 1, got {confidence}")
    if output is not None:
        try:
            check_output_path(output, [data, labels, xml])
        except OutputError as exc:
            fail(str(exc))
        if output.suffix.lower() not in (".json", ".jsonl", ".parquet"):
            fail(f"{output}: write to a .json, .jsonl or .parquet file")
    table = _read(data, labels, xml, label_columns)
    model = _model(loss, epochs, seed)
    if not 2 <= folds <= len(table.Y):
        fail(f"--folds must be between 2 and the {len(table.Y)} rows, got {folds}")
    counter = _model(count_loss, epochs, seed) if count_loss != loss else None
    if counter is not None and count_loss == "auto":
        fail("--count-loss must be a fixed loss, not auto")
    try:
        probs = cross_val_probabilities(model, table.X, table.Y, folds=folds)
        counted = cross_val_probabilities(counter, table.X, table.Y, folds=folds) if counter is not None else None
        found = find_missing_labels(
            table.Y, probs, seed=seed, confidence=confidence, label_names=table.label_names, count_probs=counted
        )
    except ValueError as exc:
        fail(f"{data}: {exc}")
    payload = {
        **found.summary,
        "model": _fit_message(model),
        "counted_with": count_loss,
        "unannotated_pairs": len(found.samples),
    }
    if output is not None:
        try:
            found.write(output)
        except OutputError as exc:
            fail(str(exc))
    if o["as_json"]:
        print_json({**payload, "top": found.to_records(top)})
        return
    low, high = found.expected_missing_interval
    view = Table(
        title=f"~{payload['expected_missing_total']:.0f} missing labels expected ({100 * confidence:.0f}% interval "
        f"{low:.0f}-{high:.0f}) among {len(found.samples)} unannotated pairs; model: {payload['model']}",
        title_justify="left",
    )
    for column in ("rank", "row", "label", "probability"):
        view.add_column(column, justify="right" if column != "label" else "left")
    for rank, row in enumerate(found.to_records(top), start=1):
        view.add_row(str(rank), str(row["sample"]), row["label_name"], f"{row['probability']:.3f}")
    err.print(view)
    if output is not None:
        err.print(f"written {output}")


@app.command()
def train(
    data: Path = DATA,
    labels: Path | None = LABELS,
    xml: Path | None = XML,
    label_columns: str | None = LABEL_COLUMNS,
    loss: str = LOSS,
    epochs: int = EPOCHS,
    test: Path | None = typer.Option(None, "--test", help="A fully labeled test table in the same format: report mAP."),
    test_labels: Path | None = typer.Option(None, "--test-labels", help="With .npy --test: its label matrix."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Save the fitted model here (.pt)."),
    seed: int = SEED,
    as_json: bool = JSON,
    quiet: bool = QUIET,
) -> None:
    """Fit a model on a table with missing labels; report test mAP (--test) and/or save it (-o)."""
    from trueneg.io import OutputError, check_output_path

    silence(quiet)
    if test is None and output is None:
        fail("nothing to do: pass --test TABLE to report test mAP, or -o MODEL.pt to save the model")
    if output is not None:
        try:
            check_output_path(output, [data, labels, xml, test, test_labels])
        except OutputError as exc:
            fail(str(exc))
    table = _read(data, labels, xml, label_columns)
    held_out = _read(test, test_labels, xml, label_columns) if test is not None else None
    if held_out is not None and held_out.X.shape[1] != table.X.shape[1]:
        fail(f"{test}: {held_out.X.shape[1]} features, the training table {data} has {table.X.shape[1]}")
    if held_out is not None and held_out.label_names != table.label_names:
        fail(f"{test}: its labels differ from those of {data}")
    model = _model(loss, epochs, seed)
    try:
        model.fit(table.X, table.Y)
    except ValueError as exc:
        fail(f"{data}: {exc}")
    payload: dict[str, Any] = {"loss": model.loss_, "epochs": model.epochs_, "model": _fit_message(model)}
    if hasattr(model, "selection_"):
        payload["selection"] = model.selection_.summary
    if held_out is not None:
        from trueneg.multilabel import mean_average_precision

        payload["test_map"] = round(mean_average_precision(held_out.Y, model.predict_proba(held_out.X)), 4)
    if output is not None:
        try:
            model.save(output, table.label_names)
        except OutputError as exc:
            fail(str(exc))
        payload["written"] = str(output)
    if as_json:
        print_json(payload)
        return
    view = Table(title="trueneg multilabel train", show_header=False, title_justify="left")
    view.add_column(style="bold")
    view.add_column()
    for key in ("model", "test_map", "written"):
        if key in payload:
            view.add_row(key.replace("_", " "), str(payload[key]))
    err.print(view)
