"""The ``trueneg`` command line: a thin layer over the Python API.

Every command maps to one documented function, with its settings object built from the options
(whose defaults are read from ``MiningConfig()``, ``ScaleConfig()``, ``AuditConfig()``,
``TrainConfig()`` and ``SentenceTransformerEncoder()``): ``trueneg mine`` ->
:func:`trueneg.mining.write_negatives` (:func:`trueneg.mine_negatives` in memory, or with the scale
options :func:`trueneg.mine_to_file`), ``trueneg audit`` -> :func:`trueneg.audit.audit` (with the scale
options :func:`trueneg.audit.audit_at_scale`), ``trueneg labels`` -> :func:`trueneg.labels.find_label_issues`,
``trueneg train`` -> :func:`trueneg.training.train`, ``trueneg eval`` ->
:func:`trueneg.evaluation.evaluate`; ``trueneg recommend train|negatives|audit`` ->
:func:`trueneg.recommendation.train_recommender`, :func:`~trueneg.recommendation.recommend_negatives`,
:func:`~trueneg.recommendation.audit_interactions`; ``trueneg demo`` mines the bundled SciFact slice.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from trueneg.audit.config import AuditConfig
from trueneg.candidates.encoders import SentenceTransformerEncoder, check_model_folder
from trueneg.cli.common import CONTEXT, err
from trueneg.cli.common import fail as _fail
from trueneg.cli.common import silence as _silence
from trueneg.cli.multilabel import app as multilabel_app
from trueneg.mining.config import MiningConfig, ScaleConfig
from trueneg.training.config import TrainConfig

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


DEMO_DIR = Path(__file__).parent.parent / "data" / "demo"

# options shared by the commands that read retrieval data (mine, audit; --strict also eval)
# the library's defaults, declared once: the options below read them from these objects
MINE, SCALE, AUDIT, TRAIN = MiningConfig(), ScaleConfig(), AuditConfig(), TrainConfig()
ENCODER = SentenceTransformerEncoder()  # its settings only: nothing loads before the first encode
QUERY_COLUMN = typer.Option(None, help="Pair files: the query column [guessed from the names].")
POSITIVE_COLUMN = typer.Option(
    None, help="Pair files: a positive (or, with --label-column, the document) column; repeatable."
)
NEGATIVE_COLUMN = typer.Option(None, help="Pair files: a judged-negative column; repeatable.")
LABEL_COLUMN = typer.Option(
    None, help="Pair files: a relevance column (> 0 positive, 0 judged negative): one judgment per row."
)
STRICT = typer.Option(
    False, "--strict", help="Refuse documents and queries with empty text instead of skipping them with a warning."
)


def _judges(specs: list[str] | None) -> list[Any] | None:
    """The judges of ``--judge`` options, or a clear error."""
    from trueneg.mining.judges import parse_judge

    try:
        return [parse_judge(spec) for spec in specs] if specs else None
    except ValueError as exc:
        _fail(str(exc))


def _columns(query: str | None, positives: list[str] | None, negatives: list[str] | None, label: str | None) -> Any:
    """The pair-file column choice of the --*-column options (None fields are guessed)."""
    from trueneg.data import Columns

    return Columns(query, tuple(positives) if positives else None, tuple(negatives) if negatives else None, label)


def _print_summary(summary: dict[str, Any], output: Path | None) -> None:
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


def _run_mine(
    data_path: Path,
    output: Path,
    split: str,
    corpus: Path | None,
    strict: bool,
    columns: Any,
    as_json: bool,
    model: Any,
    config: MiningConfig,
    **options: Any,
) -> dict[str, Any]:
    """Load the data and call :func:`trueneg.mining.write_negatives`; print the summary."""
    from trueneg.data import DataError, input_files, load_data
    from trueneg.io import check_output_path, resolve
    from trueneg.mining.result import sidecar_path
    from trueneg.mining.stream import check_output, write_negatives

    try:
        inputs = [*input_files(data_path, corpus), options.get("corpus_embeddings"), options.get("query_embeddings"),
                  options.get("judgments")]  # fmt: skip
        check_output(output, options.get("format", "flagembedding"), inputs)  # before loading the data
        check_output_path(sidecar_path(output), inputs)
        if options.get("judgments_file") is not None:
            if resolve(options["judgments_file"]) == resolve(output):
                raise ValueError(f"{output}: the judge log and the output are the same file; name two files")
            check_output_path(options["judgments_file"], inputs, "judge log")
        data = load_data(data_path, split=split, corpus=corpus, strict=strict, columns=columns)
        summary = write_negatives(data, output, model, config, **options).to_dict()
    except (DataError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        _print_summary(summary, output)
    return summary


@app.command()
def mine(
    data: Path = typer.Argument(..., help="BEIR folder, or a pair file (.jsonl/.csv/.parquet) of query + positive(s)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file, .jsonl or .parquet (written atomically)."),
    format: str = typer.Option(
        "flagembedding", "--format", "-f", help="flagembedding, triplet, n-tuple or labeled-list."
    ),
    split: str = typer.Option("train", help="qrels split of a BEIR folder."),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Write the output even when the filters leave no negative at all (else: an error)."
    ),
    extra_columns: bool = typer.Option(
        False,
        "--extra-columns",
        help="Keep the probabilities, inferred flags and raw teacher scores in the rows "
        "[default: in NAME.trueneg-extra.jsonl beside them, so the rows train as they are].",
    ),
    query_column: str | None = QUERY_COLUMN,
    positive_column: list[str] | None = POSITIVE_COLUMN,
    negative_column: list[str] | None = NEGATIVE_COLUMN,
    label_column: str | None = LABEL_COLUMN,
    strict: bool = STRICT,
    corpus: Path | None = typer.Option(None, help="Extra document collection for a pair file."),
    model: str | None = typer.Option(
        None, help="sentence-transformers model name or path [default: offline all-MiniLM-L6-v2]."
    ),
    backend: str = typer.Option(
        ENCODER.backend, help="Encoder backend: torch (full precision) or onnx-int8 (faster on CPU)."
    ),
    retriever: str = typer.Option(MINE.retriever, help="dense, sparse (BM25) or hybrid (reciprocal-rank fusion)."),
    num_negatives: int = typer.Option(MINE.num_negatives, "--num-negatives", "-n", help="Negatives per query."),
    sampling: str = typer.Option(MINE.sampling, help="top, random or simans."),
    range_min: int = typer.Option(MINE.range_min, help="Skip this many hardest candidates (runner-up negatives)."),
    range_max: int | None = typer.Option(
        None, help="Consider candidates up to this rank [default: range-min + 10 x n]."
    ),
    max_score: float | None = typer.Option(None, help="TopK-Abs: drop candidates scoring above this."),
    margin: float | None = typer.Option(None, help="TopK-MarginPos: drop candidates scoring above positive - margin."),
    perc_pos: float = typer.Option(MINE.perc_pos, help="TopK-PercPos: drop candidates scoring above perc x positive."),
    no_perc_pos: bool = typer.Option(False, "--no-perc-pos", help="Disable TopK-PercPos."),
    min_score: float | None = typer.Option(None, help="Drop candidates scoring below this."),
    near_duplicate: float = typer.Option(
        MINE.near_duplicate, help="TF-IDF cosine above which a candidate is a near-duplicate of a positive."
    ),
    no_near_duplicate: bool = typer.Option(False, "--no-near-duplicate", help="Disable the near-duplicate filter."),
    simans_a: float = typer.Option(MINE.simans_a, help="SimANS sharpness a."),
    simans_b: float = typer.Option(MINE.simans_b, help="SimANS offset b."),
    teacher: str | None = typer.Option(
        None,
        help="Teacher model (bi-encoder or cross-encoder) that rescores candidates and is the detector's "
        "second opinion.",
    ),
    teacher_type: str = typer.Option(MINE.teacher_type, help="auto, bi-encoder or cross-encoder."),
    max_fn_rate: float | None = typer.Option(
        None,
        help="Pick the cutoff on the estimated false-negative probability so that emitted negatives stay under "
        "this false-negative rate (replaces --perc-pos).",
    ),
    fn_estimator: str = typer.Option(
        MINE.fn_estimator, help="Label-frequency estimator for --max-fn-rate: roc, tice, elkan-noto, km2."
    ),
    detector: str = typer.Option(
        "multi",
        help="False-negative detector for --max-fn-rate: multi (score, similarity to the other positives, BM25, "
        "other queries' labels) or score (score only).",
    ),
    fn_action: str = typer.Option(
        MINE.fn_action,
        help="Suspected false negatives (detector probability >= --relabel-probability): drop (the filters "
        "only), relabel (write up to --max-inferred per query as inferred positives) or drop-query (leave out "
        "queries with at least --drop-query-count suspects).",
    ),
    relabel_probability: float = typer.Option(
        MINE.relabel_probability, help="Detector probability from which a candidate is suspect."
    ),
    max_inferred: int = typer.Option(MINE.max_inferred, help="relabel: inferred positives per query at most."),
    drop_query_count: int = typer.Option(
        MINE.drop_query_count, help="drop-query: suspects that make a query be left out."
    ),
    judge: list[str] | None = typer.Option(
        None,
        help="A judge that re-checks the suspects, in cascade order (repeatable): cross-encoder:MODEL, "
        "bi-encoder:MODEL or llm:URL#MODEL (an OpenAI-compatible endpoint; answers cached on disk).",
    ),
    judge_budget: int | None = typer.Option(None, help="Pairs each judge after the first sees at most."),
    judge_log: Path | None = typer.Option(
        None, help="Write every judgment of the --judge cascade (judge, verdict, score) to this .jsonl."
    ),
    judgments: Path | None = typer.Option(
        None,
        help="A filled verify.jsonl (trueneg audit --verify): judged pairs become labels, the detector is "
        "recalibrated on them, and relabeling keeps to --relabel-precision.",
    ),
    relabel_precision: float = typer.Option(
        MINE.relabel_precision, help="With --judgments and --fn-action relabel: the estimated precision to meet."
    ),
    query_prompt: str | None = typer.Option(None, help="Prompt prepended to queries."),
    document_prompt: str | None = typer.Option(None, help="Prompt prepended to documents."),
    seed: int = typer.Option(MINE.seed, help="Random seed."),
    batch_size: int = typer.Option(ENCODER.batch_size, help="Encoding batch size."),
    cache_dir: Path | None = typer.Option(
        None, help="Embedding cache folder [default: $TRUENEG_CACHE or ~/.cache/trueneg]."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the embedding cache."),
    corpus_embeddings: Path | None = typer.Option(
        None, help="Precomputed corpus embeddings: .npy (rows in corpus order) or .parquet (id + vector columns)."
    ),
    query_embeddings: Path | None = typer.Option(
        None, help="Precomputed query embeddings: .npy (rows in queries order) or .parquet (id + vector columns)."
    ),
    index: str | None = typer.Option(
        None, help="Vector index: auto, exact, ivf, ivfpq or hnsw [default: auto with the scale options, else exact]."
    ),
    max_memory: str | None = typer.Option(
        None, help="Memory budget for the index and one query chunk, e.g. 4GiB [default: 4GiB]."
    ),
    target_recall: float = typer.Option(
        SCALE.target_recall, help="Recall@10 vs exact search an approximate index is tuned to."
    ),
    engine: str | None = typer.Option(None, help="local or ray (Ray Data; RAY_ADDRESS selects a cluster)."),
    ray_workers: int | None = typer.Option(None, help="Concurrent Ray workers [default: one per CPU]."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Mine hard negatives that are unlikely to be unlabeled positives.

    Any of --corpus-embeddings, --query-embeddings, --index, --max-memory or --engine selects the scale
    path (trueneg.mine_to_file): embeddings on disk, an approximate index, query chunks streamed to the
    output, with the index's measured recall in the summary.
    """
    _silence(quiet)
    try:
        encoder = SentenceTransformerEncoder(
            model, backend=backend, query_prompt=query_prompt, document_prompt=document_prompt, batch_size=batch_size,
            cache_dir=False if no_cache else cache_dir, show_progress=not quiet,
        )  # fmt: skip
        config = MiningConfig(
            num_negatives=num_negatives, retriever=retriever, sampling=sampling, range_min=range_min,
            range_max=range_max, max_score=max_score, margin=margin, perc_pos=None if no_perc_pos else perc_pos,
            min_score=min_score, near_duplicate=None if no_near_duplicate else near_duplicate, simans_a=simans_a,
            simans_b=simans_b, teacher_type=teacher_type, max_fn_rate=max_fn_rate, fn_estimator=fn_estimator,
            fn_action=fn_action, relabel_probability=relabel_probability, max_inferred=max_inferred,
            drop_query_count=drop_query_count, judge_budget=judge_budget, relabel_precision=relabel_precision,
            seed=seed,
        )  # fmt: skip
        scale = None
        if any(v is not None for v in (corpus_embeddings, query_embeddings, index, max_memory, engine)):
            scale = ScaleConfig(
                index=index or SCALE.index, max_memory=max_memory or SCALE.max_memory, target_recall=target_recall,
                engine=engine or SCALE.engine, ray_workers=ray_workers,
            )  # fmt: skip
    except (ValueError, ImportError) as exc:
        _fail(str(exc))
    columns = _columns(query_column, positive_column, negative_column, label_column)
    _run_mine(
        data, output, split, corpus, strict, columns, as_json, encoder, config, scale=scale, format=format,
        teacher=teacher, fn_detector=detector, judges=_judges(judge), judgments_file=judge_log, judgments=judgments,
        corpus_embeddings=corpus_embeddings, query_embeddings=query_embeddings,
        cache_dir=False if no_cache else cache_dir, allow_empty=allow_empty, show_progress=not quiet,
        extra_columns=extra_columns,
    )  # fmt: skip


@app.command()
def audit(
    data: Path = typer.Argument(..., help="BEIR folder, or a pair file (.jsonl/.csv/.parquet) of query + positive(s)."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder for report.html and audit.json."),
    split: str = typer.Option("train", help="qrels split of a BEIR folder."),
    query_column: str | None = QUERY_COLUMN,
    positive_column: list[str] | None = POSITIVE_COLUMN,
    negative_column: list[str] | None = NEGATIVE_COLUMN,
    label_column: str | None = LABEL_COLUMN,
    strict: bool = STRICT,
    corpus: Path | None = typer.Option(None, help="Extra document collection for a pair file."),
    model: str | None = typer.Option(None, help="sentence-transformers model [default: offline all-MiniLM-L6-v2]."),
    backend: str = typer.Option(ENCODER.backend, help="Encoder backend: torch or onnx-int8."),
    retriever: str = typer.Option(AUDIT.retriever, help="dense, sparse (BM25) or hybrid."),
    depth: int = typer.Option(AUDIT.depth, help="Candidates per query that the estimate covers."),
    top_k: int = typer.Option(AUDIT.top_k, help="The dataset rate covers each query's top-k unlabeled candidates."),
    estimator: str = typer.Option(AUDIT.estimator, help="Label-frequency estimator: roc, tice, elkan-noto or km2."),
    detector: str = typer.Option(
        "multi", help="multi (score, similarity to the other positives, BM25, other queries' labels) or score."
    ),
    suspects: int = typer.Option(AUDIT.n_suspects, help="How many likely missing positives to list."),
    num_negatives: int = typer.Option(
        AUDIT.num_negatives, "--num-negatives", "-n", help="Mining configuration to assess: negatives."
    ),
    perc_pos: float = typer.Option(AUDIT.perc_pos, help="Mining configuration to assess: TopK-PercPos."),
    max_fn_rate: float | None = typer.Option(None, help="Mining configuration to assess: --max-fn-rate instead."),
    query_prompt: str | None = typer.Option(None, help="Prompt prepended to queries."),
    document_prompt: str | None = typer.Option(None, help="Prompt prepended to documents."),
    seed: int = typer.Option(AUDIT.seed, help="Random seed."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the embedding cache."),
    corpus_embeddings: Path | None = typer.Option(None, help="Precomputed corpus embeddings (.npy or .parquet)."),
    query_embeddings: Path | None = typer.Option(None, help="Precomputed query embeddings (.npy or .parquet)."),
    index: str | None = typer.Option(None, help="Vector index: auto, exact, ivf, ivfpq or hnsw."),
    max_memory: str | None = typer.Option(None, help="Memory budget for the index and one query chunk [4GiB]."),
    fn_sample: int = typer.Option(SCALE.fn_sample, help="With the scale options: queries the estimate is fit on."),
    verify: int = typer.Option(
        AUDIT.verify, help="Also write OUTPUT_DIR/verify.jsonl: this many unlabeled pairs to judge (0 = none)."
    ),
    judgments: Path | None = typer.Option(
        None, help="A filled verify.jsonl of an earlier --verify run (same data, model, seed): verified estimates."
    ),
    level: float = typer.Option(AUDIT.level, help="Level of the verified intervals."),
    teacher: str | None = typer.Option(
        None, help="A second model (bi-encoder or cross-encoder) whose scores the detector uses as evidence."
    ),
    teacher_type: str = typer.Option(MINE.teacher_type, help="auto, bi-encoder or cross-encoder."),
    as_json: bool = typer.Option(False, "--json", help="Print audit.json on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Estimate how many unlabeled candidates are missing positives; write report.html and audit.json.

    Any of --corpus-embeddings, --query-embeddings, --index or --max-memory selects the scale path
    (trueneg.audit.audit_at_scale): fit on --fn-sample queries, applied to every query chunk.
    """
    _silence(quiet)
    from trueneg.audit import audit as run_audit
    from trueneg.audit import audit_at_scale
    from trueneg.audit.report import next_step
    from trueneg.audit.verification import check_sample_target
    from trueneg.data import DataError, input_files, load_data
    from trueneg.io import check_output_path

    cache = False if no_cache else cache_dir
    try:
        encoder = SentenceTransformerEncoder(
            model, backend=backend, query_prompt=query_prompt, document_prompt=document_prompt, cache_dir=cache,
            show_progress=not quiet,
        )  # fmt: skip
        config = AuditConfig(
            depth=depth, top_k=top_k, estimator=estimator, n_suspects=suspects, num_negatives=num_negatives,
            perc_pos=perc_pos, max_fn_rate=max_fn_rate, retriever=retriever, seed=seed, verify=verify, level=level,
        )  # fmt: skip
        check_model_folder(teacher, "--teacher")
        scaled = any(v is not None for v in (corpus_embeddings, query_embeddings, index, max_memory))
        scale = ScaleConfig(index=index or SCALE.index, max_memory=max_memory or SCALE.max_memory, fn_sample=fn_sample)
        if output_dir.exists() and not output_dir.is_dir():
            raise ValueError(f"{output_dir}: --output-dir is a file, not a folder")
        inputs = [*input_files(data, corpus), corpus_embeddings, query_embeddings, judgments]
        for name in ("audit.json", "report.html", *(("verify.jsonl",) if verify else ())):
            check_output_path(output_dir / name, inputs, "audit")
        if scaled and (verify or judgments is not None or teacher is not None):
            raise ValueError("--verify, --judgments and --teacher apply to the in-memory audit; drop the scale options")
        if verify:
            check_sample_target(output_dir / "verify.jsonl")
        columns = _columns(query_column, positive_column, negative_column, label_column)
        loaded = load_data(data, split=split, corpus=corpus, strict=strict, columns=columns)
        common = dict(detector=detector, cache_dir=cache, show_progress=not quiet)
        if scaled:
            result = audit_at_scale(loaded, encoder, config, scale, corpus_embeddings=corpus_embeddings,
                                    query_embeddings=query_embeddings, **common)  # fmt: skip
        else:
            result = run_audit(loaded, encoder, config, judgments=judgments, teacher=teacher,
                               teacher_type=teacher_type, **common)  # fmt: skip
        written = result.write(output_dir)
    except (DataError, ValueError, FileNotFoundError, ImportError) as exc:
        _fail(str(exc))
    s = result.summary
    if as_json:
        sys.stdout.write(json.dumps(s, indent=2) + "\n")
        return
    err.print(
        f"[bold]estimated false-negative rate[/] in the top {s['top_k']} unlabeled candidates: "
        f"{100 * s['estimated_fn_rate']:.2f}% ({100 * s['ci_low']:.2f}–{100 * s['ci_high']:.2f}%), "
        f"label frequency {s['label_frequency']:.2f}; emitted negatives: {100 * s['mining']['estimated_fn_rate']:.2f}%"
    )
    verified = s.get("verified")
    if verified:
        mined = verified["mining"]
        err.print(
            f"[bold]verified[/] by {verified['judged']} judgments ({100 * verified['level']:.0f}% interval): top "
            f"{s['top_k']} {100 * verified['estimated_fn_rate']:.2f}% ({100 * verified['ci_low']:.2f}–"
            f"{100 * verified['ci_high']:.2f}%); emitted negatives {100 * mined['estimated_fn_rate']:.2f}% "
            f"({100 * mined['ci_low']:.2f}–{100 * mined['ci_high']:.2f}%); the figures above rest on the PU "
            "assumption", highlight=False,
        )  # fmt: skip
    for warning in s.get("warnings", []):
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for x in s["suspects"][:5]:
        err.print(f"  suspect p={x['probability']:.2f} query {x['query_id']} doc {x['doc_id']}: {x['query'][:70]}")
    if "verification" in s:
        err.print(f"judge the {s['verification']['rows']} rows of {output_dir / 'verify.jsonl'} (1 relevant, 0 not), "
                  f"then: trueneg audit {data} -o {output_dir} --judgments {output_dir / 'verify.jsonl'}",
                  highlight=False)  # fmt: skip
    err.print(f"next: {next_step(s)['mine']}", highlight=False)
    err.print("written " + ", ".join(str(p) for p in written))


def _load_npy(path: Path, what: str) -> Any:
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        _fail(f"{path}: cannot read {what} as a NumPy .npy file ({exc})")


@app.command()
def labels(
    given_labels: Path = typer.Argument(..., help="Given labels, (n,) .npy of integers."),
    pred_probs: Path = typer.Argument(..., help="Out-of-sample predicted probabilities, (n, classes) .npy."),
    features: Path | None = typer.Option(None, help="Features or embeddings, (n, dim) .npy, for the kNN signal."),
    filter_by: str = typer.Option("both", help="both, prune_by_noise_rate, prune_by_class or confident_learning."),
    k: int = typer.Option(10, help="Neighbours of the kNN signal."),
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
        _fail(f"--top must be at least 0, got {top}")
    probs = _load_npy(pred_probs, "pred_probs")
    given = _load_npy(given_labels, "labels")
    if getattr(given, "ndim", 0) == 2 and getattr(probs, "ndim", 0) == 1:
        _fail(f"{given_labels} holds a 2-D array and {pred_probs} a 1-D one: pass LABELS first, then PRED_PROBS")
    feats = _load_npy(features, "features") if features is not None else None
    files = {"labels": given_labels, "pred_probs": pred_probs, "features": features}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = find_label_issues(given, probs, feats, filter_by=filter_by, k=k)
        except ArgumentError as exc:
            _fail(f"{files[exc.argument]}: {exc.argument} {exc.detail}")
        except ValueError as exc:
            _fail(str(exc))
    for w in caught if not quiet else ():
        err.print(f"[yellow]warning:[/] {w.message}", soft_wrap=True)
    noise = result.noise
    payload = result.to_dict()
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
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


@app.command(name="train")
def train_model(
    data_file: Path = typer.Argument(..., help="A `trueneg mine` output (.jsonl or .parquet, any format)."),
    model: str = typer.Option("default", help="Model path or name; 'default' = the offline all-MiniLM-L6-v2."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder for the trained model."),
    loss: str = typer.Option(TRAIN.loss, help="mnrl, fn-masked, debiased or distill."),
    num_negatives: int = typer.Option(TRAIN.num_negatives, help="Mined negatives per example (0 = in-batch only)."),
    batch_size: int = typer.Option(TRAIN.batch_size, help="Examples per batch (each also an in-batch negative)."),
    epochs: float = typer.Option(TRAIN.epochs, help="Passes over the data."),
    max_steps: int | None = typer.Option(None, help="Stop after this many steps (overrides --epochs)."),
    lr: float = typer.Option(TRAIN.learning_rate, "--lr", help="Peak learning rate (linear warm-up and decay)."),
    warmup_ratio: float = typer.Option(TRAIN.warmup_ratio, help="Share of steps spent warming up."),
    max_seq_length: int | None = typer.Option(None, help="Truncate texts to this many tokens."),
    train_layers: int | None = typer.Option(None, help="Fine-tune only the top N transformer layers."),
    class_prior: float | None = typer.Option(None, help="debiased: share of false negatives among negatives."),
    audit_json: Path | None = typer.Option(None, "--audit", help="debiased: take the prior from this audit.json."),
    margin: float = typer.Option(TRAIN.margin, help="fn-masked: drop candidates scored above positive - margin."),
    guide: str = typer.Option(
        TRAIN.guide,
        help="fn-masked: 'self' (detached student), 'base' (frozen start model) or 'probability' (the detector's "
        "neg_probability: a negative counts 1 - p).",
    ),
    inferred: str = typer.Option(
        TRAIN.inferred,
        help="Inferred positives (mine --fn-action relabel): 'positive', 'soft' (loss weighted by pos_probability) "
        "or 'skip'.",
    ),
    debias_temperature: float = typer.Option(
        TRAIN.debias_temperature,
        help="debiased: temperature of the false-negative share estimate (0 = the loss's own, which clamps).",
    ),
    temperature: float = typer.Option(TRAIN.temperature, help="distill: softmax temperature."),
    contrastive_weight: float = typer.Option(
        TRAIN.contrastive_weight, help="distill: weight of the added InfoNCE term."
    ),
    checkpoint_steps: int = typer.Option(
        TRAIN.checkpoint_steps, help="Save a checkpoint every N steps (0 = none); deleted at the end."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its latest checkpoint."),
    query_prompt: str | None = typer.Option(None, help="Prompt prepended to the anchors (queries)."),
    document_prompt: str | None = typer.Option(None, help="Prompt prepended to the documents."),
    seed: int = typer.Option(TRAIN.seed, help="Random seed."),
    device: str | None = typer.Option(None, help="cpu, cuda, ...; default: a GPU when present."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Fine-tune a sentence-transformers model on mined negatives with a false-negative-aware loss."""
    _silence(quiet)
    from trueneg.data import DataError
    from trueneg.training import train

    try:
        config = TrainConfig(
            loss=loss, num_negatives=num_negatives, batch_size=batch_size, epochs=epochs, max_steps=max_steps,
            learning_rate=lr, warmup_ratio=warmup_ratio, max_seq_length=max_seq_length, train_layers=train_layers,
            class_prior=class_prior, margin=margin, guide=guide, inferred=inferred,
            debias_temperature=debias_temperature or None, temperature=temperature,
            contrastive_weight=contrastive_weight, checkpoint_steps=checkpoint_steps, seed=seed,
            query_prompt=query_prompt, document_prompt=document_prompt,
        )  # fmt: skip
        result = train(
            data_file, model, config, output_dir=output_dir, audit_json=audit_json, device=device,
            overwrite=overwrite, resume=resume, show_progress=not quiet,
        )  # fmt: skip
    except (DataError, ValueError, ImportError, FileExistsError, FileNotFoundError, OSError) as exc:
        _fail(str(exc))
    payload = {k: v for k, v in result.to_dict().items() if k != "log_history"}
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    table = Table(title="trueneg train", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key in ("model_path", "examples", "steps", "seconds", "final_loss"):
        table.add_row(key.replace("_", " "), str(payload[key]))
    table.add_row("loss", json.dumps({k: v for k, v in result.settings.items() if v is not None}))
    err.print(table)


@app.command(name="eval")
def evaluate_model(
    model: str = typer.Argument(..., help="Model path or name; 'default' = the offline all-MiniLM-L6-v2."),
    data: Path = typer.Argument(..., help="BEIR folder."),
    split: str = typer.Option("test", help="qrels split to score."),
    strict: bool = STRICT,
    backend: str = typer.Option(ENCODER.backend, help="Encoder backend: torch or onnx-int8."),
    depth: int = typer.Option(100, help="Documents retrieved per query."),
    query_prompt: str | None = typer.Option(None, help="Prompt prepended to queries."),
    document_prompt: str | None = typer.Option(None, help="Prompt prepended to documents."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the embedding cache."),
    per_query: bool = typer.Option(False, "--per-query", help="Include per-query metrics in the JSON."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Score a retrieval model on a BEIR split: nDCG@10, Recall@100, MRR@10 (also on judged documents only)."""
    _silence(quiet)
    from trueneg.data import DataError, load_beir
    from trueneg.evaluation import evaluate

    try:
        loaded = load_beir(data, split, strict=strict)
        encoder = SentenceTransformerEncoder(
            None if model in ("default", "") else model, backend=backend, query_prompt=query_prompt,
            document_prompt=document_prompt, cache_dir=False if no_cache else cache_dir, show_progress=not quiet,
        )  # fmt: skip
        result = evaluate(
            loaded, encoder, depth=depth, cache_dir=False if no_cache else cache_dir, show_progress=not quiet
        )
    except (DataError, ValueError, FileNotFoundError, OSError, ImportError) as exc:
        _fail(str(exc))
    payload = result.to_dict()
    if not per_query:
        payload.pop("per_query")
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
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
def demo(
    output: Path = typer.Option(Path("demo_negatives.jsonl"), "--output", "-o", help="Where to write the mined rows."),
    backend: str = typer.Option(ENCODER.backend, help="Encoder backend: torch or onnx-int8."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Mine negatives on the bundled SciFact slice with the offline all-MiniLM-L6-v2 model."""
    _silence(quiet)
    try:
        encoder = SentenceTransformerEncoder(backend=backend, show_progress=not quiet)
    except (ValueError, ImportError) as exc:
        _fail(str(exc))
    config = MiningConfig(num_negatives=10, perc_pos=0.95)
    _run_mine(DEMO_DIR, output, "train", None, False, None, as_json, encoder, config, show_progress=not quiet)
    if not as_json:
        from trueneg.data.readers import read_table

        first = next(read_table(output))[1]
        err.print(f"[bold]example row[/] query: {first['query']}")
        err.print(f"  positive ({first['pos_scores'][0]:.3f}): {first['pos'][0][:110]}...")
        for text, score in list(zip(first["neg"], first["neg_scores"]))[:3]:
            err.print(f"  negative ({score:.3f}): {text[:110]}...")


@app.command()
def judge(
    sample: Path = typer.Argument(..., help="A verify.jsonl written by trueneg audit --verify."),
    port: int = typer.Option(0, help="Port of the local page on 127.0.0.1 [default: a free one]."),
    judge_spec: list[str] | None = typer.Option(
        None,
        "--judge",
        help="Fill by machine instead: cross-encoder:MODEL, bi-encoder:MODEL or llm:URL#MODEL (repeatable: a cascade).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --judge: judge every row, not only empty ones."),
    as_json: bool = typer.Option(False, "--json", help="With --judge: print the summary as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or loading messages."),
) -> None:
    """Judge a verification sample: a local page (keys 1/0/s/b, saved as you go, resumes) or a judge model."""
    _silence(quiet)
    from trueneg import signals
    from trueneg.audit.judge_page import judge_file, load_sample, serve
    from trueneg.data import DataError

    try:
        if judge_spec:
            summary = judge_file(sample, _judges(judge_spec), overwrite=overwrite, show_progress=not quiet)
            _print_mapping("trueneg judge", summary, as_json)
            return
        load_sample(sample)
        server = serve(sample, port)
    except (DataError, ValueError, OSError) as exc:
        _fail(str(exc))
    err.print(f"judging {sample} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop; every judgment "
              "is saved as it is made)", highlight=False)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        signals.acknowledge()  # stopping the page is its normal end
    finally:
        server.server_close()
    state = load_sample(sample)
    judged = sum(r.get("judgment") in (0, 1) for r in state)
    err.print(f"stopped: {judged} of {len(state)} rows judged, saved in {sample}")


recommend_app = typer.Typer(
    no_args_is_help=True,
    help="Implicit feedback (user-item logs): an item never interacted with is unlabeled.",
    rich_markup_mode=None,
    context_settings=CONTEXT,
)
app.add_typer(recommend_app, name="recommend")
app.add_typer(multilabel_app, name="multilabel")

_LOG_HELP = "Interaction log: MovieLens u.data (or its folder), .csv, .tsv or .parquet with user and item columns."


def _sampler_options(sampler: str, range_min: int, range_max: int, sampling: str, max_probability: float) -> dict:
    from trueneg.recommendation.samplers import sampler_options

    settings = dict(range_min=range_min, range_max=range_max, sampling=sampling, max_probability=max_probability)
    return sampler_options(sampler, **settings)


@recommend_app.command(name="train")
def recommend_train(
    data: Path = typer.Argument(..., help=_LOG_HELP),
    model: str = typer.Option(
        "mf", help="mf (matrix factorisation: --loss, --sampler), als (implicit's ALS) or ease (Steck's EASE)."
    ),
    split: str = typer.Option("leave-last-out", help="leave-last-out or random."),
    test_fraction: float = typer.Option(0.2, help="random split: share of each user's interactions held out."),
    test: Path | None = typer.Option(None, help="Score this held-out log instead of splitting DATA."),
    loss: str = typer.Option("bpr", help="mf: bpr or relmf (clipped inverse-propensity pointwise loss)."),
    sampler: str = typer.Option(
        "auto",
        help="mf/bpr negatives: uniform, popularity, hard, fn-aware, or auto (uniform or fn-aware, chosen on a "
        "validation split of the training data).",
    ),
    range_min: int = typer.Option(0, help="hard/fn-aware: skip this many top-ranked candidates."),
    range_max: int = typer.Option(200, help="hard/fn-aware: sample among candidates ranked below this."),
    sampling: str = typer.Option("random", help="hard/fn-aware: random, top or simans within the window."),
    max_probability: float = typer.Option(0.03, help="fn-aware: drop candidates more likely missing positives."),
    factors: int = typer.Option(64, help="Latent factors."),
    epochs: int = typer.Option(30, help="mf: passes over the interactions."),
    lr: float = typer.Option(5e-3, "--lr", help="mf: Adam learning rate."),
    reg: float | None = typer.Option(None, help="L2 penalty on the factors [mf: 1e-4, als: 0.1]."),
    alpha: float = typer.Option(1.0, help="als: confidence 1 + alpha * r of an interaction."),
    iterations: int = typer.Option(15, help="als: alternating least-squares sweeps."),
    fn_weighting: str = typer.Option(
        "auto",
        help="als/ease: relabel each user's likeliest missing positives: on, off, or auto (off, or relabel the "
        "top 1, 2 or 5, chosen on a validation split of the training data).",
    ),
    no_fn_weighting: bool = typer.Option(False, "--no-fn-weighting", help="Same as --fn-weighting off."),
    relabel_top: int | None = typer.Option(
        None, help="als/ease: missing positives relabeled per user [with --fn-weighting on: 2; auto: 1, 2 or 5]."
    ),
    l2: float | None = typer.Option(None, help="ease: ridge penalty [default: chosen on validation]."),
    k: int = typer.Option(20, "-k", help="Cut-off of Recall@k and NDCG@k."),
    min_rating: float | None = typer.Option(None, help="Keep only events rated at least this."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Save the factors and ids as .npz."),
    seed: int = typer.Option(0, help="Random seed (split, initialisation, sampling)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train a recommender on a holdout split (or all of DATA with --test) and report Recall@k and NDCG@k."""
    _silence(quiet)
    from trueneg.data import DataError
    from trueneg.recommendation import load_interactions, save_factors, train_recommender
    from trueneg.recommendation.model import check_factors_path

    try:
        if output is not None:
            check_factors_path(output, [data, test])
        log = load_interactions(data, min_rating=min_rating)
        held_out = load_interactions(test, min_rating=min_rating) if test is not None else None
        fn = "off" if no_fn_weighting else fn_weighting
        top = {} if relabel_top is None else {"relabel_top": relabel_top}
        if model == "als":
            params = dict(factors=factors, alpha=alpha, iterations=iterations, fn_weighting=fn, **top,
                          **({} if reg is None else {"regularization": reg}))  # fmt: skip
        elif model == "ease":
            params = dict(fn_weighting=fn, **top, **({} if l2 is None else {"l2": l2}))
        else:
            shaped = "fn-aware" if sampler == "auto" else sampler
            params = dict(
                loss=loss, sampler=sampler, factors=factors, epochs=epochs, lr=lr, show_progress=not quiet,
                sampler_kwargs=_sampler_options(shaped, range_min, range_max, sampling, max_probability),
                **({} if reg is None else {"reg": reg}),
            )  # fmt: skip
        fitted, summary = train_recommender(
            log, model=model, split=split, test_fraction=test_fraction, test=held_out, k=k, seed=seed, **params
        )
        if output is not None:
            save_factors(output, fitted, log)
            summary["output"] = str(output)
    except (DataError, ValueError, FileNotFoundError, ImportError) as exc:
        _fail(str(exc))
    _print_mapping("trueneg recommend train", summary, as_json)


@recommend_app.command(name="negatives")
def recommend_negatives_cmd(
    data: Path = typer.Argument(..., help=_LOG_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="Rows {user, item, negatives}: .jsonl or .parquet."),
    sampler: str = typer.Option("fn-aware", help="uniform, popularity, hard or fn-aware."),
    num_negatives: int = typer.Option(5, "--num-negatives", "-n", help="Negatives per interaction."),
    range_min: int = typer.Option(0, help="hard/fn-aware: skip this many top-ranked candidates."),
    range_max: int = typer.Option(200, help="hard/fn-aware: sample among candidates ranked below this."),
    sampling: str = typer.Option("random", help="hard/fn-aware: random, top or simans within the window."),
    max_probability: float = typer.Option(0.03, help="fn-aware: drop candidates more likely missing positives."),
    min_rating: float | None = typer.Option(None, help="Keep only events rated at least this."),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Sample negatives for every interaction of a log (score-ranked samplers train a BPR model first)."""
    _silence(quiet)
    from trueneg.data import DataError
    from trueneg.io import check_rows_suffix, write_rows
    from trueneg.recommendation import load_interactions, recommend_negatives

    try:
        check_rows_suffix(output, [data])
        log = load_interactions(data, min_rating=min_rating)
        options = _sampler_options(sampler, range_min, range_max, sampling, max_probability)
        rows = recommend_negatives(log, sampler, num_negatives, seed, show_progress=not quiet, **options)
        write_rows(output, rows)
    except (DataError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    summary = {"source": log.source, "interactions": len(rows), "sampler": sampler, "negatives_per_interaction":
               num_negatives, "written": str(output)}  # fmt: skip
    _print_mapping("trueneg recommend negatives", summary, as_json)


@recommend_app.command(name="audit")
def recommend_audit(
    data: Path = typer.Argument(..., help=_LOG_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="audit JSON: rates per sampler and the suspects."),
    suspects: int = typer.Option(100, help="How many likely missing positives to list."),
    estimator: str = typer.Option("tice", help="Label-frequency estimator: tice, elkan-noto or km2."),
    min_rating: float | None = typer.Option(None, help="Keep only events rated at least this."),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the audit as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Estimate the missing positives of a log and the false-negative share of each sampler; list suspects."""
    _silence(quiet)
    from trueneg.data import DataError
    from trueneg.io import check_output_path
    from trueneg.recommendation import audit_interactions, load_interactions

    try:
        check_output_path(output, [data], "audit")
        log = load_interactions(data, min_rating=min_rating)
        result = audit_interactions(log, n_suspects=suspects, estimator=estimator, seed=seed, show_progress=not quiet)
        result.write(output)
    except (DataError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    s = result.summary
    if as_json:
        sys.stdout.write(json.dumps(s, indent=2) + "\n")
        return
    err.print(
        f"[bold]estimated missing positives[/]: {s['estimated_missing_positives']} "
        f"({100 * s['estimated_missing_rate']:.2f}% of unlabeled pairs), label frequency {s['label_frequency']:.2f} "
        f"({s['label_frequency_ci'][0]:.2f}–{s['label_frequency_ci'][1]:.2f})"
    )
    for name, v in s["samplers"].items():
        share = 100 * v["estimated_fn_share"]
        err.print(f"  {name:<11} negatives: {share:.2f}% estimated false negatives, mean score {v['mean_score']}")
    for x in s["suspects"][:5]:
        err.print(f"  suspect p={x['probability']:.2f} user {x['user']} item {x['item']}")
    err.print(f"written {output}")


def _print_mapping(title: str, summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
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


if __name__ == "__main__":
    app()
