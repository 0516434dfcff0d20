"""Missing labels in multi-label data: every loss, ``loss="auto"`` as chosen by validation, and the missing count.

    python bench/multilabel.py [--seeds 0 1 2] [--conditions yeast/single scene/hide50 ...]

MULAN yeast and scene, one fixed random 70/30 split (seed 0). On the training part, positives are
hidden: 50% of the positive labels at random (``hide50``), or all but one per row (``single``).
Each seed hides differently and seeds the models. Arms, all ``MultiLabelMLP`` defaults (100 epochs,
256 hidden units) as a user would run them: assume-negative BCE, every other loss, and
``loss="auto"`` (the loss and its epochs chosen by 3-fold validation on the training part only;
the test part is never seen). Reported per seed: test mAP with the full labels, the paired
difference to BCE (mean with a 95% t-interval over seeds), and the expected number of missing
labels (``find_missing_labels`` on 2-fold cross-fitted probabilities of the arm) over the true
number hidden. ``trueneg multilabel find`` counts with the LL-R arm's probabilities, whatever
loss ranks the pairs.

Only two multi-label tables are on this machine, and no registry package ships one, so label and
feature subsets are separate conditions, to keep the methods from being tuned to two tables:
``yeast-labels`` (the first 7 of 14 labels), ``yeast-features`` and ``scene-features`` (a seeded
half of the feature columns), each with a single positive per row.

Training uses one torch thread (``torch.set_num_threads(1)``), so that the benchmark does not fight
other work for the two cores; the numbers do not depend on it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import SHARED, interval, save

from trueneg.multilabel import (
    MultiLabelMLP,
    cross_val_probabilities,
    find_missing_labels,
    load_mulan,
    mean_average_precision,
)

LOSSES = ("bce", "wan", "asl", "em", "em-apl", "ll-r", "ll-ct", "role", "nnpu", "pu-mlc", "auto")
CONDITIONS = (
    "yeast/hide50",
    "yeast/single",
    "scene/hide50",
    "scene/single",
    "yeast-labels/single",
    "yeast-features/single",
    "scene-features/single",
)


def hide(Y: np.ndarray, setting: str, rng: np.random.Generator) -> np.ndarray:
    """Observed labels: 50% of positives kept at random, or one positive per sample."""
    if setting == "hide50":
        return Y * (rng.random(Y.shape) < 0.5)
    keys = np.where(Y == 1, rng.random(Y.shape), -1.0)
    observed = np.zeros_like(Y)
    has = Y.sum(1) > 0
    observed[np.flatnonzero(has), keys[has].argmax(1)] = 1
    return observed


def table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The features and labels of a condition's table (a subset for the ``-labels`` / ``-features`` ones)."""
    base = name.split("-")[0]
    X, Y, _ = load_mulan(SHARED / "multilabel" / f"{base}.orig.arff.gz", SHARED / "multilabel" / f"{base}.xml.gz")
    if name.endswith("-labels"):
        Y = Y[:, : Y.shape[1] // 2]
        X, Y = X[Y.sum(1) > 0], Y[Y.sum(1) > 0]
    if name.endswith("-features"):
        X = X[:, np.sort(np.random.default_rng(0).permutation(X.shape[1])[: X.shape[1] // 2])]
    return X, Y


def run_arm(
    loss: str, X: np.ndarray, Y: np.ndarray, train: np.ndarray, test: np.ndarray, observed: np.ndarray, seed: int
) -> dict:
    hidden = int(((Y[train] == 1) & (observed == 0)).sum())
    started = time.perf_counter()
    model = MultiLabelMLP(loss=loss, seed=seed)
    oof = cross_val_probabilities(model, X[train], observed)  # with auto: also fits `model` on all of train
    if loss != "auto":
        model.fit(X[train], observed)
    found = find_missing_labels(observed, oof, seed=seed)
    low, high = found.expected_missing_interval
    record = {
        "loss": loss,
        "test_map": mean_average_precision(Y[test], model.predict_proba(X[test])),
        "expected_over_true_missing": float(found.expected_missing.sum()) / max(hidden, 1),
        "interval_over_true": [low / max(hidden, 1), high / max(hidden, 1)],
        "true_missing": hidden,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if loss == "auto":
        record["chosen"] = model.selection_.summary
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    records = []
    for condition in args.conditions:
        name, setting = condition.split("/")
        X, Y = table(name)
        order = np.random.default_rng(0).permutation(len(X))
        train, test = order[: int(0.7 * len(X))], order[int(0.7 * len(X)) :]
        for seed in args.seeds:
            observed = hide(Y[train], setting, np.random.default_rng(seed))
            for loss in LOSSES:
                record = {"condition": condition, "seed": seed, **run_arm(loss, X, Y, train, test, observed, seed)}
                records.append(record)
                print(
                    {k: v for k, v in record.items() if k != "chosen"},
                    record.get("chosen", {}).get("chosen", ""),
                    flush=True,
                )
    summary, lines = {}, []
    for condition in args.conditions:
        rows = {loss: [r for r in records if r["condition"] == condition and r["loss"] == loss] for loss in LOSSES}
        bce = {r["seed"]: r["test_map"] for r in rows["bce"]}
        cell = {}
        for loss in LOSSES:
            diffs = [100 * (r["test_map"] - bce[r["seed"]]) for r in rows[loss]]
            mean, low, high = interval(diffs)
            cell[loss] = {
                "median_test_map": round(statistics.median(r["test_map"] for r in rows[loss]), 4),
                "per_seed_test_map": [round(r["test_map"], 4) for r in rows[loss]],
                "diff_vs_bce_points": [round(mean, 2), round(low, 2), round(high, 2)],
                "median_expected_over_true": round(
                    statistics.median(r["expected_over_true_missing"] for r in rows[loss]), 2
                ),
            }
        chosen = [f"{r['chosen']['chosen']}@{r['chosen']['epochs']}" for r in rows["auto"]]
        summary[condition] = {"arms": cell, "auto_chose": chosen}
        cells = " | ".join(f"{cell[loss]['median_test_map']:.4f}" for loss in LOSSES)
        auto = cell["auto"]["diff_vs_bce_points"]
        best = max(
            (loss for loss in LOSSES if loss not in ("bce", "auto")), key=lambda loss: cell[loss]["median_test_map"]
        )
        ratios = ", ".join(f"{cell[loss]['median_expected_over_true']:.2f}" for loss in ("ll-r", "bce", "auto"))
        lines.append(
            f"| {condition} | {cells} | {auto[0]:+.2f} [{auto[1]:+.2f}, {auto[2]:+.2f}] | {', '.join(chosen)} | "
            f"{best} {cell[best]['diff_vs_bce_points'][0]:+.2f} | {ratios} |"
        )
    header = " | ".join(LOSSES)
    table_md = (
        f'Test mAP, median over seeds {args.seeds}; `MultiLabelMLP` defaults (100 epochs); auto = `loss="auto"` as '
        "chosen by its own validation on the training part (not the best arm in hindsight). Paired differences are "
        "mean test-mAP points over seeds with a 95% t-interval. Expected / true missing labels: median over seeds, "
        "from `find_missing_labels` on 2-fold cross-fitted probabilities of the arm.\n\n"
        f"| condition | {header} | auto - BCE (points) | auto chose (loss@epochs) | best fixed loss - BCE | "
        "expected / true missing: ll-r (what `trueneg multilabel find` counts with), BCE, auto |\n"
        f"|---|{'---|' * len(LOSSES)}---|---|---|---|\n" + "\n".join(lines)
    )
    save("multilabel", {"settings": vars(args), "summary": summary, "records": records}, table_md)
    print(table_md)


if __name__ == "__main__":
    main()
