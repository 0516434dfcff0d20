"""``trueneg audit`` -> :func:`trueneg.audit.audit` (scale options: :func:`trueneg.audit.audit_at_scale`), and
``trueneg judge`` -> :func:`trueneg.audit.judge_page.serve` / :func:`~trueneg.audit.judge_page.judge_file`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from trueneg.audit.config import AuditConfig
from trueneg.cli.common import JSON, QUIET, err, errors, print_json, print_mapping, silence
from trueneg.cli.options import (
    COLUMNS,
    DATA,
    EMBEDDINGS,
    ENCODING,
    OUTPUT_FLAGS,
    SCALE,
    TEACHER,
    Group,
    cache,
    command,
    encoder_from,
    judges_from,
    load_from,
    scale_from,
)  # fmt: skip

app = typer.Typer()  # the commands are added to the main app by trueneg.cli
AUDIT = AuditConfig()

AUDITING: Group = {  # AuditConfig's fields, with its defaults
    "retriever": (str, typer.Option(AUDIT.retriever, help="dense, sparse (BM25) or hybrid.")),
    "depth": (int, typer.Option(AUDIT.depth, help="Candidates per query that the estimate covers.")),
    "top_k": (int, typer.Option(AUDIT.top_k, help="The dataset rate covers each query's top-k unlabeled candidates.")),
    "estimator": (str, typer.Option(AUDIT.estimator, help="Label-frequency estimator: roc, tice, elkan-noto or km2.")),
    "suspects": (int, typer.Option(AUDIT.n_suspects, help="How many likely missing positives to list.")),
    "num_negatives": (int, typer.Option(
        AUDIT.num_negatives, "--num-negatives", "-n", help="Mining configuration to assess: negatives.")),
    "perc_pos": (float, typer.Option(AUDIT.perc_pos, help="Mining configuration to assess: TopK-PercPos.")),
    "max_fn_rate": (float | None, typer.Option(None, help="Mining configuration to assess: --max-fn-rate instead.")),
    "seed": (int, typer.Option(AUDIT.seed, help="Random seed.")),
    "verify": (int, typer.Option(
        AUDIT.verify, help="Also write OUTPUT_DIR/verify.jsonl: this many unlabeled pairs to judge (0 = none).")),
    "level": (float, typer.Option(AUDIT.level, help="Level of the verified intervals.")),
    "detector": (str, typer.Option(
        "multi", help="multi (score, similarity to the other positives, BM25, other queries' labels, hubness) or "
        "score.")),
    "judgments": (Path | None, typer.Option(
        None, help="A filled verify.jsonl of an earlier --verify run (same data, model, seed): verified estimates.")),
    "fn_sample": (int, typer.Option(SCALE.fn_sample, help="With the scale options: queries the estimate is fit on.")),
}  # fmt: skip


def _check_outputs(data: Path, output_dir: Path, o: dict[str, Any]) -> None:
    from trueneg.audit.verification import check_sample_target
    from trueneg.data import input_files
    from trueneg.io import check_output_path

    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"{output_dir}: --output-dir is a file, not a folder")
    inputs = [*input_files(data, o["corpus"]), o["corpus_embeddings"], o["query_embeddings"], o["judgments"]]
    for name in ("audit.json", "report.html", *(("verify.jsonl",) if o["verify"] else ())):
        check_output_path(output_dir / name, inputs, "audit")
    if o["verify"]:
        check_sample_target(output_dir / "verify.jsonl")


@command(app, "audit", COLUMNS, ENCODING, AUDITING, TEACHER, EMBEDDINGS, OUTPUT_FLAGS)
def audit(
    data: Path = DATA,
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder for report.html and audit.json."),
    **o: Any,
) -> None:
    """Estimate how many unlabeled candidates are missing positives; write report.html and audit.json.

    Any of --corpus-embeddings, --query-embeddings, --index or --max-memory selects the scale path
    (trueneg.audit.audit_at_scale): fit on --fn-sample queries, applied to every query chunk.
    """
    silence(o["quiet"])
    from trueneg.audit import audit as run_audit
    from trueneg.audit import audit_at_scale

    with errors():
        encoder = encoder_from(o)
        config = AuditConfig(
            depth=o["depth"], top_k=o["top_k"], estimator=o["estimator"], n_suspects=o["suspects"],
            num_negatives=o["num_negatives"], perc_pos=o["perc_pos"], max_fn_rate=o["max_fn_rate"],
            retriever=o["retriever"], seed=o["seed"], verify=o["verify"], level=o["level"],
        )  # fmt: skip
        from trueneg.candidates.encoders import check_model_folder

        check_model_folder(o["teacher"], "--teacher")
        scale = scale_from(o, fn_sample=o["fn_sample"])
        _check_outputs(data, output_dir, o)
        if scale is not None and (o["verify"] or o["judgments"] is not None):
            raise ValueError("--verify and --judgments apply to the in-memory audit; drop the scale options")
        loaded = load_from(data, o)
        common = dict(detector=o["detector"], teacher=o["teacher"], teacher_type=o["teacher_type"], cache_dir=cache(o),
                      show_progress=not o["quiet"])  # fmt: skip
        if scale is not None:
            result = audit_at_scale(loaded, encoder, config, scale, corpus_embeddings=o["corpus_embeddings"],
                                    query_embeddings=o["query_embeddings"], **common)  # fmt: skip
        else:
            result = run_audit(loaded, encoder, config, judgments=o["judgments"], **common)
        written = result.write(output_dir)
    if o["as_json"]:
        print_json(result.summary, indent=2)
        return
    _print_audit(result.summary, data, output_dir, written)


def _print_audit(s: dict[str, Any], data: Path, output_dir: Path, written: tuple[Path, ...]) -> None:
    from trueneg.audit.report import next_step

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
    as_json: bool = JSON,
    quiet: bool = QUIET,
) -> None:
    """Judge a verification sample: a local page (keys 1/0/s/b, saved as you go, resumes) or a judge model."""
    silence(quiet)
    from trueneg import signals
    from trueneg.audit.judge_page import judge_file, load_sample, serve

    with errors():
        if judge_spec:
            summary = judge_file(sample, judges_from(judge_spec), overwrite=overwrite, show_progress=not quiet)
            print_mapping("trueneg judge", summary, as_json)
            return
        load_sample(sample)
        server = serve(sample, port)
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
