"""``trueneg recommend train|negatives|audit`` -> :func:`trueneg.recommendation.train_recommender`,
:func:`~trueneg.recommendation.recommend_negatives`, :func:`~trueneg.recommendation.audit_interactions`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from trueneg.cli.common import CONTEXT, JSON, QUIET, err, errors, print_json, print_mapping, silence
from trueneg.cli.options import OUTPUT_FLAGS, Group, command, default_of

recommend_app = typer.Typer(
    no_args_is_help=True,
    help="Implicit feedback (user-item logs): an item never interacted with is unlabeled.",
    rich_markup_mode=None,
    context_settings=CONTEXT,
)

# the library's defaults, read from its signatures: written once, there
_SAMPLERS, _API = "trueneg.recommendation.samplers", "trueneg.recommendation.api"
_MODEL = "trueneg.recommendation.model"
D = {
    **{name: default_of(f"{_SAMPLERS}:HardSampler", name) for name in ("range_min", "range_max", "sampling")},
    "max_probability": default_of(f"{_SAMPLERS}:FalseNegativeAwareSampler", "max_probability"),
    **{name: default_of(f"{_MODEL}:MatrixFactorization", name) for name in ("factors", "epochs", "lr")},
    **{name: default_of("trueneg.recommendation.als:FalseNegativeAwareALS", name) for name in ("alpha", "iterations")},
    **{name: default_of(f"{_API}:train_recommender", name) for name in ("model", "split", "test_fraction", "k")},
    "negatives_sampler": default_of(f"{_API}:recommend_negatives", "sampler"),
    "num_negatives": default_of(f"{_API}:recommend_negatives", "num_negatives"),
    **{name: default_of(f"{_API}:audit_interactions", name) for name in ("n_suspects", "estimator")},
}

_LOG_HELP = "Interaction log: MovieLens u.data (or its folder), .csv, .tsv or .parquet with user and item columns."


def _sampler_options(sampler: str, o: dict[str, Any]) -> dict:
    from trueneg.recommendation.samplers import sampler_options

    return sampler_options(sampler, **{k: o[k] for k in ("range_min", "range_max", "sampling", "max_probability")})


SAMPLER: Group = {
    "range_min": (int, typer.Option(D["range_min"], help="hard/fn-aware: skip this many top-ranked candidates.")),
    "range_max": (int, typer.Option(D["range_max"], help="hard/fn-aware: sample among candidates ranked below this.")),
    "sampling": (str, typer.Option(D["sampling"], help="hard/fn-aware: random, top or simans within the window.")),
    "max_probability": (float, typer.Option(
        D["max_probability"], help="fn-aware: drop candidates more likely missing positives.")),
    "min_rating": (float | None, typer.Option(None, help="Keep only events rated at least this.")),
}
MODEL: Group = {
    "factors": (int, typer.Option(D["factors"], help="Latent factors.")),
    "epochs": (int, typer.Option(D["epochs"], help="mf: passes over the interactions.")),
    "lr": (float, typer.Option(D["lr"], "--lr", help="mf: Adam learning rate.")),
    "reg": (float | None, typer.Option(None, help="L2 penalty on the factors [mf: 1e-4, als: 0.1].")),
    "alpha": (float, typer.Option(D["alpha"], help="als: confidence 1 + alpha * r of an interaction.")),
    "iterations": (int, typer.Option(D["iterations"], help="als: alternating least-squares sweeps.")),
    "fn_weighting": (str, typer.Option(
        "auto", help="als/ease: relabel each user's likeliest missing positives: on, off, or auto (off, or relabel "
        "the top 1, 2 or 5, chosen on a validation split of the training data).")),
    "no_fn_weighting": (bool, typer.Option(False, "--no-fn-weighting", help="Same as --fn-weighting off.")),
    "relabel_top": (int | None, typer.Option(
        None, help="als/ease: missing positives relabeled per user [with --fn-weighting on: 2; auto: 1, 2 or 5].")),
    "l2": (float | None, typer.Option(None, help="ease: ridge penalty [default: chosen on validation].")),
    "test_fraction": (float, typer.Option(
        D["test_fraction"], help="random split: share of each user's interactions held out.")),
    "test": (Path | None, typer.Option(None, help="Score this held-out log instead of splitting DATA.")),
    "k": (int, typer.Option(D["k"], "-k", help="Cut-off of Recall@k and NDCG@k.")),
}  # fmt: skip


def _model_params(model: str, sampler: str, loss: str, o: dict[str, Any]) -> dict[str, Any]:
    """The keyword settings of :func:`~trueneg.recommendation.train_recommender` for ``model``."""
    fn = "off" if o["no_fn_weighting"] else o["fn_weighting"]
    top = {} if o["relabel_top"] is None else {"relabel_top": o["relabel_top"]}
    if model == "als":
        return dict(factors=o["factors"], alpha=o["alpha"], iterations=o["iterations"], fn_weighting=fn, **top,
                    **({} if o["reg"] is None else {"regularization": o["reg"]}))  # fmt: skip
    if model == "ease":
        return dict(fn_weighting=fn, **top, **({} if o["l2"] is None else {"l2": o["l2"]}))
    shaped = "fn-aware" if sampler == "auto" else sampler
    return dict(
        loss=loss, sampler=sampler, factors=o["factors"], epochs=o["epochs"], lr=o["lr"], show_progress=not o["quiet"],
        sampler_kwargs=_sampler_options(shaped, o), **({} if o["reg"] is None else {"reg": o["reg"]}),
    )  # fmt: skip


@command(recommend_app, "train", SAMPLER, MODEL, OUTPUT_FLAGS)
def recommend_train(
    data: Path = typer.Argument(..., help=_LOG_HELP),
    model: str = typer.Option(
        D["model"], help="mf (matrix factorisation: --loss, --sampler), als (implicit's ALS) or ease (Steck's EASE)."
    ),
    split: str = typer.Option(D["split"], help="leave-last-out or random."),
    loss: str = typer.Option("bpr", help="mf: bpr or relmf (clipped inverse-propensity pointwise loss)."),
    sampler: str = typer.Option(
        "auto",
        help="mf/bpr negatives: uniform, popularity, hard, fn-aware, or auto (uniform or fn-aware, chosen on a "
        "validation split of the training data).",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Save the factors and ids as .npz."),
    seed: int = typer.Option(0, help="Random seed (split, initialisation, sampling)."),
    **o: Any,
) -> None:
    """Train a recommender on a holdout split (or all of DATA with --test) and report Recall@k and NDCG@k."""
    silence(o["quiet"])
    from trueneg.recommendation import load_interactions, save_factors, train_recommender
    from trueneg.recommendation.model import check_factors_path

    with errors():
        if output is not None:
            check_factors_path(output, [data, o["test"]])
        log = load_interactions(data, min_rating=o["min_rating"])
        held_out = load_interactions(o["test"], min_rating=o["min_rating"]) if o["test"] is not None else None
        fitted, summary = train_recommender(
            log, model=model, split=split, test_fraction=o["test_fraction"], test=held_out, k=o["k"], seed=seed,
            **_model_params(model, sampler, loss, o),
        )  # fmt: skip
        if output is not None:
            save_factors(output, fitted, log)
            summary["output"] = str(output)
    print_mapping("trueneg recommend train", summary, o["as_json"])


@command(recommend_app, "negatives", SAMPLER, OUTPUT_FLAGS)
def recommend_negatives_cmd(
    data: Path = typer.Argument(..., help=_LOG_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="Rows {user, item, negatives}: .jsonl or .parquet."),
    sampler: str = typer.Option(D["negatives_sampler"], help="uniform, popularity, hard or fn-aware."),
    num_negatives: int = typer.Option(
        D["num_negatives"], "--num-negatives", "-n", help="Negatives per interaction."
    ),
    seed: int = typer.Option(0, help="Random seed."),
    **o: Any,
) -> None:
    """Sample negatives for every interaction of a log (score-ranked samplers train a BPR model first)."""
    silence(o["quiet"])
    from trueneg.io import check_rows_suffix, write_rows
    from trueneg.recommendation import load_interactions, recommend_negatives

    with errors():
        check_rows_suffix(output, [data])
        log = load_interactions(data, min_rating=o["min_rating"])
        options = _sampler_options(sampler, o)
        rows = recommend_negatives(log, sampler, num_negatives, seed, show_progress=not o["quiet"], **options)
        write_rows(output, rows)
    summary = {"source": log.source, "interactions": len(rows), "sampler": sampler, "negatives_per_interaction":
               num_negatives, "written": str(output)}  # fmt: skip
    print_mapping("trueneg recommend negatives", summary, o["as_json"])


@recommend_app.command(name="audit")
def recommend_audit(
    data: Path = typer.Argument(..., help=_LOG_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="audit JSON: rates per sampler and the suspects."),
    suspects: int = typer.Option(
        D["n_suspects"], help="How many likely missing positives to list."
    ),
    estimator: str = typer.Option(
        D["estimator"], help="Label-frequency estimator: tice, elkan-noto or km2."
    ),
    min_rating: float | None = typer.Option(None, help="Keep only events rated at least this."),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = JSON,
    quiet: bool = QUIET,
) -> None:
    """Estimate the missing positives of a log and the false-negative share of each sampler; list suspects."""
    silence(quiet)
    from trueneg.io import check_output_path
    from trueneg.recommendation import audit_interactions, load_interactions

    with errors():
        check_output_path(output, [data], "audit")
        log = load_interactions(data, min_rating=min_rating)
        result = audit_interactions(log, n_suspects=suspects, estimator=estimator, seed=seed, show_progress=not quiet)
        result.write(output)
    s = result.summary
    if as_json:
        print_json(s, indent=2)
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
