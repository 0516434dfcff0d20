"""``trueneg train`` -> :func:`trueneg.training.train`, ``trueneg eval`` -> :func:`trueneg.evaluation.evaluate`,
``trueneg labels`` -> :func:`trueneg.labels.find_label_issues`. The training options are the fields of
:class:`~trueneg.training.TrainConfig`, with its defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from trueneg.cli.common import err, errors, fail, print_json, silence
from trueneg.cli.options import ENCODING, OUTPUT_FLAGS, STRICT, Group, cache, command, default_of, encoder_from, pick
from trueneg.training.config import TrainConfig

app = typer.Typer()  # the commands are added to the main app by trueneg.cli
TRAIN = TrainConfig()

TRAINING: Group = {  # TrainConfig's fields, with its defaults
    "loss": (str, typer.Option(TRAIN.loss, help="mnrl, fn-masked, debiased or distill.")),
    "num_negatives": (int, typer.Option(TRAIN.num_negatives, help="Mined negatives per example (0 = in-batch only).")),
    "batch_size": (int, typer.Option(TRAIN.batch_size, help="Examples per batch (each also an in-batch negative).")),
    "epochs": (float, typer.Option(TRAIN.epochs, help="Passes over the data.")),
    "max_steps": (int | None, typer.Option(None, help="Stop after this many steps (overrides --epochs).")),
    "learning_rate": (float, typer.Option(
        TRAIN.learning_rate, "--lr", help="Peak learning rate (linear warm-up and decay).")),
    "warmup_ratio": (float, typer.Option(TRAIN.warmup_ratio, help="Share of steps spent warming up.")),
    "max_seq_length": (int | None, typer.Option(None, help="Truncate texts to this many tokens.")),
    "train_layers": (int | None, typer.Option(None, help="Fine-tune only the top N transformer layers.")),
    "class_prior": (float | None, typer.Option(None, help="debiased: share of false negatives among negatives.")),
    "margin": (float, typer.Option(TRAIN.margin, help="fn-masked: drop candidates scored above positive - margin.")),
    "guide": (str, typer.Option(
        TRAIN.guide, help="fn-masked: 'self' (detached student), 'base' (frozen start model) or 'probability' (the "
        "detector's neg_probability: a negative counts 1 - p).")),
    "inferred": (str, typer.Option(
        TRAIN.inferred, help="Inferred positives (mine --fn-action relabel): 'positive', 'soft' (loss weighted by "
        "pos_probability) or 'skip'.")),
    "debias_temperature": (float, typer.Option(
        TRAIN.debias_temperature, help="debiased: temperature of the false-negative share estimate (0 = the loss's "
        "own, which clamps).")),
    "temperature": (float, typer.Option(TRAIN.temperature, help="distill: softmax temperature.")),
    "contrastive_weight": (float, typer.Option(
        TRAIN.contrastive_weight, help="distill: weight of the added InfoNCE term.")),
    "checkpoint_steps": (int, typer.Option(
        TRAIN.checkpoint_steps, help="Save a checkpoint every N steps (0 = none); deleted at the end.")),
    "query_prompt": (str | None, typer.Option(None, help="Prompt prepended to the anchors (queries).")),
    "document_prompt": (str | None, typer.Option(None, help="Prompt prepended to the documents.")),
    "seed": (int, typer.Option(TRAIN.seed, help="Random seed.")),
}  # fmt: skip
RUN: Group = {
    "audit_json": (Path | None, typer.Option(None, "--audit", help="debiased: take the prior from this audit.json.")),
    "resume": (bool, typer.Option(False, "--resume", help="Continue an interrupted run from its latest checkpoint.")),
    "device": (str | None, typer.Option(None, help="cpu, cuda, ...; default: a GPU when present.")),
    "overwrite": (bool, typer.Option(False, "--overwrite", help="Replace an existing output folder.")),
}


@command(app, "train", TRAINING, RUN, OUTPUT_FLAGS)
def train_model(
    data_file: Path = typer.Argument(..., help="A `trueneg mine` output (.jsonl or .parquet, any format)."),
    model: str = typer.Option("default", help="Model path or name; 'default' = the offline all-MiniLM-L6-v2."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder for the trained model."),
    **o: Any,
) -> None:
    """Fine-tune a sentence-transformers model on mined negatives with a false-negative-aware loss."""
    silence(o["quiet"])
    from trueneg.training import train

    with errors():
        config = TrainConfig(**{**pick(o, TrainConfig), "debias_temperature": o["debias_temperature"] or None})
        result = train(
            data_file, model, config, output_dir=output_dir, audit_json=o["audit_json"], device=o["device"],
            overwrite=o["overwrite"], resume=o["resume"], show_progress=not o["quiet"],
        )  # fmt: skip
    payload = {k: v for k, v in result.to_dict().items() if k != "log_history"}
    if o["as_json"]:
        print_json(payload)
        return
    table = Table(title="trueneg train", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key in ("model_path", "examples", "steps", "seconds", "final_loss"):
        table.add_row(key.replace("_", " "), str(payload[key]))
    table.add_row("loss", json.dumps({k: v for k, v in result.settings.items() if v is not None}))
    err.print(table)


EVAL_ENCODING = {k: v for k, v in ENCODING.items() if k not in ("model", "batch_size")}


@command(app, "eval", EVAL_ENCODING, OUTPUT_FLAGS)
def evaluate_model(
    model: str = typer.Argument(..., help="Model path or name; 'default' = the offline all-MiniLM-L6-v2."),
    data: Path = typer.Argument(..., help="BEIR folder."),
    split: str = typer.Option("test", help="qrels split to score."),
    strict: bool = STRICT,
    depth: int = typer.Option(
        default_of("trueneg.evaluation.retrieval:evaluate", "depth"), help="Documents retrieved per query."
    ),
    per_query: bool = typer.Option(False, "--per-query", help="Include per-query metrics in the JSON."),
    **o: Any,
) -> None:
    """Score a retrieval model on a BEIR split: nDCG@10, Recall@100, MRR@10 (also on judged documents only)."""
    silence(o["quiet"])
    from trueneg.data import load_beir
    from trueneg.evaluation import evaluate

    with errors():
        loaded = load_beir(data, split, strict=strict)
        encoder = encoder_from(o, None if model in ("default", "") else model)
        result = evaluate(loaded, encoder, depth=depth, cache_dir=cache(o), show_progress=not o["quiet"])
    payload = result.to_dict()
    if not per_query:
        payload.pop("per_query")
    if o["as_json"]:
        print_json(payload)
        return
    table = Table(title=f"{model} on {data} ({split}, {payload['queries']} queries)", title_justify="left")
    table.add_column("metric")
    table.add_column("all documents", justify="right")
    judged = result.judged_only
    if judged is not None:
        table.add_column("judged only", justify="right")
    for name, value in result.metrics.items():
        table.add_row(name, f"{value:.4f}", *([f"{judged[name]:.4f}"] if judged is not None else []))
    err.print(table)
    if judged is None:
        err.print(f"note: {payload['judged_only_note']}")


@app.command()
def labels(
    given_labels: Path = typer.Argument(..., help="Given labels, (n,) .npy of integers."),
    pred_probs: Path = typer.Argument(..., help="Out-of-sample predicted probabilities, (n, classes) .npy."),
    features: Path | None = typer.Option(None, help="Features or embeddings, (n, dim) .npy, for the kNN signal."),
    filter_by: str = typer.Option(
        default_of("trueneg.labels.issues:find_label_issues", "filter_by"),
        help="both, prune_by_noise_rate, prune_by_class or confident_learning.",
    ),
    k: int = typer.Option(
        default_of("trueneg.labels.issues:find_label_issues", "k"), help="Neighbours of the kNN signal."
    ),
    top: int = typer.Option(20, help="Rows shown in the table (at least 0)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the ranked issues."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No warnings about repaired prediction files."),
) -> None:
    """Find label errors: examples filed under the wrong class, ranked, with a suggested label.

    Arguments come in the order of trueneg.labels.find_label_issues and cleanlab: LABELS, then PRED_PROBS.
    """
    import warnings

    from trueneg.labels import find_label_issues
    from trueneg.validation import ArgumentError

    if top < 0:
        fail(f"--top must be at least 0, got {top}")
    probs = load_npy(pred_probs, "pred_probs")
    given = load_npy(given_labels, "labels")
    if getattr(given, "ndim", 0) == 2 and getattr(probs, "ndim", 0) == 1:
        fail(f"{given_labels} holds a 2-D array and {pred_probs} a 1-D one: pass LABELS first, then PRED_PROBS")
    feats = load_npy(features, "features") if features is not None else None
    files = {"labels": given_labels, "pred_probs": pred_probs, "features": features}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = find_label_issues(given, probs, feats, filter_by=filter_by, k=k)
        except ArgumentError as exc:
            fail(f"{files[exc.argument]}: {exc.argument} {exc.detail}")
        except ValueError as exc:
            fail(str(exc))
    for w in caught if not quiet else ():
        err.print(f"[yellow]warning:[/] {w.message}", soft_wrap=True)
    noise = result.noise
    payload = result.to_dict()
    if as_json:
        print_json(payload)
        return
    table = Table(
        title=f"{len(payload['issues'])} suspected label errors (estimated noise "
        f"{100 * noise.noise_rate:.1f}%, ~{noise.expected_errors} errors)",
        title_justify="left",
    )
    for column in ("rank", "index", "score", "given", "suggested"):
        table.add_column(column, justify="right")
    for rank, row in enumerate(payload["issues"][:top], start=1):
        table.add_row(
            str(rank), str(row["index"]), f"{row['score']:.3f}", str(row["given_label"]), str(row["suggested_label"])
        )
    err.print(table)



def load_npy(path: Path, what: str) -> Any:
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        fail(f"{path}: cannot read {what} as a NumPy .npy file ({exc})")
