"""``trueneg mine`` and ``trueneg demo`` -> :func:`trueneg.mining.write_negatives`.

In memory (:func:`trueneg.mine_negatives`) unless a scale option is given: then the scale path
(:func:`trueneg.mine_to_file`). The mining options are the fields of :class:`~trueneg.mining.MiningConfig`,
with its defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from trueneg.cli.common import JSON, QUIET, err, errors, print_json, silence
from trueneg.cli.options import (
    COLUMNS,
    EMBEDDINGS,
    ENCODER,
    ENCODING,
    MINE,
    OUTPUT_FLAGS,
    SCALE,
    TEACHER,
    Group,
    cache,
    command,
    encoder_from,
    judges_from,
    load_from,
    pick,
    scale_from,
)  # fmt: skip
from trueneg.mining.config import MiningConfig

app = typer.Typer()  # the commands are added to the main app by trueneg.cli
DEMO_DIR = Path(__file__).parent.parent / "data" / "demo"

MINING: Group = {  # MiningConfig's fields, with its defaults
    "num_negatives": (int, typer.Option(MINE.num_negatives, "--num-negatives", "-n", help="Negatives per query.")),
    "retriever": (str, typer.Option(MINE.retriever, help="dense, sparse (BM25) or hybrid (reciprocal-rank fusion).")),
    "sampling": (str, typer.Option(MINE.sampling, help="top, random or simans.")),
    "range_min": (int, typer.Option(MINE.range_min, help="Skip this many hardest candidates (runner-up negatives).")),
    "range_max": (int | None, typer.Option(
        None, help="Consider candidates up to this rank [default: range-min + 10 x n].")),
    "max_score": (float | None, typer.Option(None, help="TopK-Abs: drop candidates scoring above this.")),
    "margin": (float | None, typer.Option(
        None, help="TopK-MarginPos: drop candidates scoring above positive - margin.")),
    "perc_pos": (float, typer.Option(
        MINE.perc_pos, help="TopK-PercPos: drop candidates scoring above perc x positive.")),
    "no_perc_pos": (bool, typer.Option(False, "--no-perc-pos", help="Disable TopK-PercPos.")),
    "min_score": (float | None, typer.Option(None, help="Drop candidates scoring below this.")),
    "near_duplicate": (float, typer.Option(
        MINE.near_duplicate, help="TF-IDF cosine above which a candidate is a near-duplicate of a positive.")),
    "no_near_duplicate": (bool, typer.Option(False, "--no-near-duplicate", help="Disable the near-duplicate filter.")),
    "simans_a": (float, typer.Option(MINE.simans_a, help="SimANS sharpness a.")),
    "simans_b": (float, typer.Option(MINE.simans_b, help="SimANS offset b.")),
    "max_fn_rate": (float | None, typer.Option(
        None, help="Pick the cutoff on the estimated false-negative probability so that emitted negatives stay under "
        "this false-negative rate (replaces --perc-pos).")),
    "fn_estimator": (str, typer.Option(
        MINE.fn_estimator, help="Label-frequency estimator for --max-fn-rate: roc, tice, elkan-noto, km2.")),
    "fn_action": (str, typer.Option(
        MINE.fn_action, help="Suspected false negatives (detector probability >= --relabel-probability): drop (the "
        "filters only), relabel (write up to --max-inferred per query as inferred positives) or drop-query (leave out "
        "queries with at least --drop-query-count suspects).")),
    "relabel_probability": (float, typer.Option(
        MINE.relabel_probability, help="Detector probability from which a candidate is suspect.")),
    "max_inferred": (int, typer.Option(MINE.max_inferred, help="relabel: inferred positives per query at most.")),
    "drop_query_count": (int, typer.Option(
        MINE.drop_query_count, help="drop-query: suspects that make a query be left out.")),
    "relabel_precision": (float, typer.Option(
        MINE.relabel_precision, help="With --judgments and --fn-action relabel: the estimated precision to meet.")),
    "judge_budget": (int | None, typer.Option(None, help="Pairs each judge after the first sees at most.")),
    "seed": (int, typer.Option(MINE.seed, help="Random seed.")),
}  # fmt: skip
MINE_INPUTS: Group = {
    "detector": (str, typer.Option(
        "multi", help="False-negative detector: multi (score, similarity to the other positives, BM25, other "
        "queries' labels, hubness) or score (score only).")),
    "judge": (list[str] | None, typer.Option(
        None, help="A judge that re-checks the suspects, in cascade order (repeatable): cross-encoder:MODEL, "
        "bi-encoder:MODEL or llm:URL#MODEL (an OpenAI-compatible endpoint; answers cached on disk).")),
    "judge_log": (Path | None, typer.Option(
        None, help="Write every judgment of the --judge cascade (judge, verdict, score) to this .jsonl.")),
    "judgments": (Path | None, typer.Option(
        None, help="A filled verify.jsonl (trueneg audit --verify): judged pairs become labels, the detector is "
        "recalibrated on them, and relabeling keeps to --relabel-precision.")),
    "target_recall": (float, typer.Option(
        SCALE.target_recall, help="Recall@10 vs exact search an approximate index is tuned to.")),
    "engine": (str | None, typer.Option(None, help="local or ray (Ray Data; RAY_ADDRESS selects a cluster).")),
    "ray_workers": (int | None, typer.Option(None, help="Concurrent Ray workers [default: one per CPU].")),
}  # fmt: skip


def mining_config(o: dict[str, Any]) -> MiningConfig:
    """The :class:`MiningConfig` of the :data:`MINING` options."""
    fields = pick(o, MiningConfig)
    if o.get("no_perc_pos"):
        fields["perc_pos"] = None
    if o.get("no_near_duplicate"):
        fields["near_duplicate"] = None
    return MiningConfig(**fields)


def run_mine(data: Path, output: Path, model: Any, config: MiningConfig, o: dict[str, Any], **options: Any) -> dict:
    """Check the output, load the data, call :func:`trueneg.mining.write_negatives`; print the summary."""
    from trueneg.data import input_files
    from trueneg.mining.engine import check_output, write_negatives

    with errors():
        inputs = [*input_files(data, o.get("corpus")), *(options.get(k) for k in
                  ("corpus_embeddings", "query_embeddings", "judgments"))]  # fmt: skip
        checked = check_output(  # once, before loading the data
            output, o.get("format", "flagembedding"), inputs, judgments_file=options.get("judgments_file"),
            extra_columns=o.get("extra_columns", False), allow_empty=o.get("allow_empty", False),
        )  # fmt: skip
        summary = write_negatives(load_from(data, o), checked, model, config, **options).to_dict()
    if o.get("as_json"):
        print_json(summary, indent=2)
    else:
        print_summary(summary, output)
    return summary


@command(app, "mine", COLUMNS, ENCODING, MINING, TEACHER, MINE_INPUTS, EMBEDDINGS, OUTPUT_FLAGS)
def mine(
    data: Path = typer.Argument(..., help="BEIR folder, or a pair file (.jsonl/.csv/.parquet) of query + positive(s)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file, .jsonl or .parquet (written atomically)."),
    format: str = typer.Option(
        "flagembedding", "--format", "-f", help="flagembedding, triplet, n-tuple or labeled-list."
    ),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Write the output even when the filters leave no negative at all (else: an error)."
    ),
    extra_columns: bool = typer.Option(
        False,
        "--extra-columns",
        help="Keep the probabilities, inferred flags and raw teacher scores in the rows "
        "[default: in NAME.trueneg-extra.jsonl beside them, so the rows train as they are].",
    ),
    **o: Any,
) -> None:
    """Mine hard negatives that are unlikely to be unlabeled positives.

    Any of --corpus-embeddings, --query-embeddings, --index, --max-memory or --engine selects the scale
    path (trueneg.mine_to_file): embeddings on disk, an approximate index, query chunks streamed to the
    output, with the index's measured recall in the summary.
    """
    silence(o["quiet"])
    o.update(format=format, allow_empty=allow_empty, extra_columns=extra_columns)
    with errors():
        encoder, config = encoder_from(o), mining_config(o)
        scale = scale_from(o, target_recall=o["target_recall"], ray_workers=o["ray_workers"])
        judges = judges_from(o["judge"])
    run_mine(
        data, output, encoder, config, o, scale=scale, teacher=o["teacher"], fn_detector=o["detector"], judges=judges,
        judgments_file=o["judge_log"], judgments=o["judgments"], corpus_embeddings=o["corpus_embeddings"],
        query_embeddings=o["query_embeddings"], cache_dir=cache(o), show_progress=not o["quiet"],
    )  # fmt: skip


@app.command()
def demo(
    output: Path = typer.Option(Path("demo_negatives.jsonl"), "--output", "-o", help="Where to write the mined rows."),
    backend: str = typer.Option(ENCODER.backend, help="Encoder backend: torch or onnx-int8."),
    as_json: bool = JSON,
    quiet: bool = QUIET,
) -> None:
    """Mine negatives on the bundled SciFact slice with the offline all-MiniLM-L6-v2 model."""
    silence(quiet)
    with errors():
        encoder = encoder_from({"backend": backend, "quiet": quiet})
    config = MiningConfig(num_negatives=10, perc_pos=0.95)
    o = {"split": "train", "strict": False, "as_json": as_json}
    run_mine(DEMO_DIR, output, encoder, config, o, show_progress=not quiet)
    if not as_json:
        from trueneg.data.readers import read_table

        first = next(read_table(output))[1]
        err.print(f"[bold]example row[/] query: {first['query']}")
        err.print(f"  positive ({first['pos_scores'][0]:.3f}): {first['pos'][0][:110]}...")
        for text, score in list(zip(first["neg"], first["neg_scores"]))[:3]:
            err.print(f"  negative ({score:.3f}): {text[:110]}...")


def print_summary(summary: dict[str, Any], output: Path | None) -> None:
    table = Table(title="trueneg mine", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("data", str(summary["source"]))
    table.add_row(
        "queries mined", f"{summary['queries']} ({summary['queries_without_positive']} without a positive skipped)"
    )
    table.add_row("retriever", f"{summary['retriever']} {summary['model'] or ''} {summary['backend'] or ''}".strip())
    if summary.get("index"):
        ix = summary["index"]
        table.add_row(
            "index",
            f"{ix['type']} {ix.get('probe') or ''} recall@10 vs exact {ix['recall@10']:.3f} "
            f"({ix['sample_queries']} held-out sample queries), {summary['chunks']} chunks, engine {summary['engine']}",
        )
    table.add_row("candidates", str(summary["candidates"]))
    for reason, count in summary["dropped"].items():
        table.add_row(f"  dropped: {reason}", str(count))
    table.add_row("negatives emitted", f"{summary['negatives_emitted']} ({summary['num_negatives']} asked per query)")
    table.add_row(
        "queries short of negatives",
        f"{summary['queries_short_of_negatives']} ({summary['queries_without_negatives']} with none)",
    )
    for name in ("positive", "anchor_positive", "negative"):
        s = summary["scores"][name]
        if s.get("count"):
            table.add_row(
                f"{name} scores",
                f"mean {s['mean']:.3f} ± {s['std']:.3f}  median {s['median']:.3f}  [{s['min']:.3f}, {s['max']:.3f}]",
            )
    fn = summary.get("false_negatives")
    if fn:
        cutoff = f", probability cutoff {fn['cutoff']}" if fn["cutoff"] is not None else ""
        table.add_row(
            "estimated false negatives",
            f"{100 * fn['estimated_fn_rate']:.2f}% of emitted"
            f" ({100 * fn['ci_low']:.2f}–{100 * fn['ci_high']:.2f}%){cutoff}",
        )
    action = summary.get("fn_action") or {}
    if action.get("action", "drop") != "drop":
        table.add_row(
            f"fn action: {action['action']}",
            f"{action['relabeled']} inferred positives in {action['queries_relabeled']} queries, "
            f"{action['queries_dropped']} queries dropped (suspect: probability >= {action['relabel_probability']})",
        )
    table.add_row("seconds", str(summary["seconds"]))
    if output is not None:
        table.add_row("written", str(output))
    err.print(table)


