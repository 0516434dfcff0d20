"""Settings chosen on validation, against the strongest simple baselines (issue 27), on MovieLens-100K.

No second public implicit-feedback log can be had offline here (no registry package ships one), so
ML-100K's users split by activity are treated as distinct conditions: all users, the light half
(at most the median number of interactions) and the heavy half. Each condition runs both split
protocols (a random 20% per user and leave-last-out) with seeds 0, 1 and 2.

Every arm is chosen on a validation split carved from the *training* part with the outer split's
protocol (never the test items), then refit on the whole training part and tested (NDCG@20):

- ``ALS default``: ``trueneg recommend train --model als`` as shipped (64 factors, reg 0.1, alpha 1;
  ``--fn-weighting auto``: add nothing, or relabel the top 1, 2 or 5 missing positives per user);
- ``ALS no-fn``: the same with ``--no-fn-weighting``;
- ``implicit ALS tuned``: implicit's ALS with regularization in {0.01, 0.1, 1} x alpha in {1, 5, 20};
- ``tuned ALS + auto``: those settings plus ``fn_weighting="auto"``;
- ``EASE``: ``--model ease --no-fn-weighting`` (l2 chosen on validation from 50..3000);
- ``EASE default``: ``--model ease`` as shipped (l2 and fn-weighting auto);
- on the full log only (each fit ~11 s): ``BPR uniform`` and ``BPR default`` (``--model mf``, sampler auto).

Reported per condition, split and seed: every arm's NDCG@20, what validation chose, and the two
quantities of the issue's targets: default ÷ no-fn (ALS and EASE), and the best default model
(EASE default) ÷ the better of tuned implicit ALS and EASE. Means over seeds with the paired
differences' 95% t-intervals.

Run: ``python bench/recommend_select.py`` (about 15 minutes on 2 cores).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _common import SHARED, interval, save

from trueneg.recommendation import Interactions, evaluate_topk, load_interactions, split_interactions
from trueneg.recommendation.als import FalseNegativeAwareALS
from trueneg.recommendation.api import fit_recommender
from trueneg.recommendation.select import choose, validation_split

SEEDS = (0, 1, 2)
SPLITS = ("random", "leave-last-out")
ALS_GRID = [(f"reg {r:g} alpha {a:g}", {"regularization": r, "alpha": a}) for r in (0.01, 0.1, 1.0) for a in (1, 5, 20)]


def conditions(log: Interactions) -> dict[str, Interactions]:
    activity = np.bincount(log.users, minlength=log.n_users)
    median = np.median(activity)
    light, heavy = np.flatnonzero(activity <= median), np.flatnonzero(activity > median)
    return {
        "all users": log,
        "light half": log.subset(np.isin(log.users, light)),
        "heavy half": log.subset(np.isin(log.users, heavy)),
    }


def run_one(log: Interactions, split: str, seed: int, with_bpr: bool) -> dict:
    parts = split_interactions(log, split, 0.2, seed)
    train, test = parts.train, parts.test
    common = dict(split=split, test_fraction=0.2, k=20, seed=seed)
    out: dict = {}

    def record(name: str, fitted, chosen: dict, seconds: float) -> None:
        out[name] = {
            "ndcg@20": evaluate_topk(fitted.predict_scores(), train, test, 20)["ndcg@20"],
            "chosen": {key: value["chosen"] for key, value in chosen.items()},
            "seconds": round(seconds, 2),
        }

    def arm(name: str, model: str, **params) -> None:
        start = time.perf_counter()
        fitted, chosen = fit_recommender(train, model, **common, **params)
        record(name, fitted, chosen, time.perf_counter() - start)

    arm("ALS default", "als")
    arm("ALS no-fn", "als", fn_weighting="off")
    start = time.perf_counter()
    tuned = choose(lambda **p: FalseNegativeAwareALS(seed=seed, fn_weighting=False, **p), ALS_GRID,
                   validation_split(train, split, 0.2, seed), 20)  # fmt: skip
    fitted = FalseNegativeAwareALS(seed=seed, fn_weighting=False, **tuned.params).fit(train)
    record("implicit ALS tuned", fitted, {"als": tuned.to_dict()}, time.perf_counter() - start)
    arm("tuned ALS + auto", "als", **tuned.params)
    arm("EASE", "ease", fn_weighting="off")
    arm("EASE default", "ease")
    if with_bpr:
        arm("BPR uniform", "mf", sampler="uniform", show_progress=False)
        arm("BPR default", "mf", show_progress=False, sampler_kwargs={"range_max": 200, "max_probability": 0.03})
    return out


def main() -> None:
    log = load_interactions(SHARED / "ml-100k")
    runs = []
    for condition, data in conditions(log).items():
        for split in SPLITS:
            for seed in SEEDS:
                started = time.perf_counter()
                arms = run_one(data, split, seed, with_bpr=condition == "all users")
                runs.append({"condition": condition, "split": split, "seed": seed, "users": data.n_users, "arms": arms})
                print(f"{condition} {split} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    for run in runs:
        a = {name: v["ndcg@20"] for name, v in run["arms"].items()}
        run["als_default_over_no_fn"] = round(a["ALS default"] / a["ALS no-fn"], 4)
        run["ease_default_over_no_fn"] = round(a["EASE default"] / a["EASE"], 4)
        run["best_default_over_best_baseline"] = round(a["EASE default"] / max(a["implicit ALS tuned"], a["EASE"]), 4)
        run["tuned_als_auto_over_tuned"] = round(a["tuned ALS + auto"] / a["implicit ALS tuned"], 4)
    arms = list(runs[0]["arms"])
    lines = [
        "## NDCG@20 per run (settings chosen on validation from training; never on test)",
        "",
        "| condition | split | seed | " + " | ".join(arms) + " | ALS default ÷ no-fn | EASE default ÷ EASE | "
        "EASE default ÷ max(tuned ALS, EASE) | chosen (ALS default; EASE default) |",
        "|" + "---|" * (len(arms) + 7),
    ]
    for run in runs:
        cells = [f"{run['arms'][n]['ndcg@20']:.4f}" if n in run["arms"] else "–" for n in arms]
        als, ease = run["arms"]["ALS default"]["chosen"], run["arms"]["EASE default"]["chosen"]
        chosen = f"{als.get('fn_weighting')}; {ease.get('l2')}, {ease.get('fn_weighting')}"
        lines.append(
            f"| {run['condition']} | {run['split']} | {run['seed']} | " + " | ".join(cells)
            + f" | {run['als_default_over_no_fn']:.4f} | {run['ease_default_over_no_fn']:.4f} | "
            f"{run['best_default_over_best_baseline']:.4f} | {chosen} |"
        )
    lines += ["", "## Means over seeds, with 95% t-intervals of the paired ratios", "",
              "| condition | split | ALS default ÷ no-fn | EASE default ÷ EASE | tuned ALS + auto ÷ tuned ALS | "
              "EASE default ÷ max(tuned ALS, EASE) |", "|---|---|---|---|---|---|"]  # fmt: skip
    summary = []
    for condition in dict.fromkeys(r["condition"] for r in runs):
        for split in SPLITS:
            group = [r for r in runs if r["condition"] == condition and r["split"] == split]
            row = {"condition": condition, "split": split}
            cells = []
            for key in ("als_default_over_no_fn", "ease_default_over_no_fn", "tuned_als_auto_over_tuned",
                        "best_default_over_best_baseline"):  # fmt: skip
                mean, low, high = interval([r[key] for r in group])
                row[key] = {"mean": round(mean, 4), "ci95": [round(low, 4), round(high, 4)]}
                cells.append(f"{mean:.4f} [{low:.4f}, {high:.4f}]")
            summary.append(row)
            lines.append(f"| {condition} | {split} | " + " | ".join(cells) + " |")
    ratio = statistics.median(r["best_default_over_best_baseline"] for r in runs)
    worst = min(min(r["als_default_over_no_fn"], r["ease_default_over_no_fn"]) for r in runs)
    lines += ["", f"Worst default ÷ no-fn over all {len(runs)} runs (ALS and EASE): {worst:.4f} "
              "(target: never below 0.995).",
              "EASE default ÷ max(tuned ALS, EASE), median over runs: "
              f"{ratio:.4f} (target: 1.03)."]  # fmt: skip
    save("recommend_select", {"runs": runs, "summary": summary, "worst_default_over_no_fn": worst}, "\n".join(lines))


if __name__ == "__main__":
    main()
