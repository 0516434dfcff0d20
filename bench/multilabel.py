"""Missing labels in multi-label data: which loss copes, and how well missing labels are found.

    python bench/multilabel.py [--seeds 0 1 2] [--epochs 40]

MULAN yeast and scene, one fixed random 70/30 split (seed 0). On the training part, positives are
hidden in two settings: 50% of positive labels at random, and single positive (one positive kept
per sample). A 256-unit MLP is trained with each loss (assume-negative BCE, ASL, EM, nnPU with
TIcE priors); we report mAP on the test part with its full labels, and the average precision of
missing-label detection on the training part (unannotated pairs ranked by 2-fold cross-fitted
probabilities, hidden positives as the relevant ones). Medians over seeds.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from _common import SHARED, save
from sklearn.metrics import average_precision_score

from trueneg.multilabel import MultiLabelMLP, find_missing_labels, load_mulan

LOSSES = ("bce", "asl", "em", "nnpu")


def hide(Y: np.ndarray, setting: str, rng: np.random.Generator) -> np.ndarray:
    """Observed labels: 50% of positives kept at random, or one positive per sample."""
    if setting == "hide50":
        return Y * (rng.random(Y.shape) < 0.5)
    keys = np.where(Y == 1, rng.random(Y.shape), -1.0)
    observed = np.zeros_like(Y)
    has = Y.sum(1) > 0
    observed[np.flatnonzero(has), keys[has].argmax(1)] = 1
    return observed


def mean_ap(Y: np.ndarray, scores: np.ndarray) -> float:
    cols = [j for j in range(Y.shape[1]) if 0 < Y[:, j].sum() < len(Y)]
    return float(np.mean([average_precision_score(Y[:, j], scores[:, j]) for j in cols]))


def cross_fitted(loss: str, X: np.ndarray, observed: np.ndarray, epochs: int, seed: int) -> np.ndarray:
    folds = np.random.default_rng(seed).permutation(len(X)) % 2
    out = np.zeros(observed.shape)
    for f in (0, 1):
        model = MultiLabelMLP(loss=loss, epochs=epochs, seed=seed).fit(X[folds != f], observed[folds != f])
        out[folds == f] = model.predict_proba(X[folds == f])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    records = []
    for name in ("yeast", "scene"):
        X, Y, _ = load_mulan(SHARED / "multilabel" / f"{name}.orig.arff.gz", SHARED / "multilabel" / f"{name}.xml.gz")
        order = np.random.default_rng(0).permutation(len(X))
        train, test = order[: int(0.7 * len(X))], order[int(0.7 * len(X)) :]
        for setting in ("hide50", "single"):
            for seed in args.seeds:
                observed = hide(Y[train], setting, np.random.default_rng(seed))
                hidden = (Y[train] == 1) & (observed == 0)
                for loss in LOSSES:
                    model = MultiLabelMLP(loss=loss, epochs=args.epochs, seed=seed).fit(X[train], observed)
                    test_map = mean_ap(Y[test], model.predict_proba(X[test]))
                    oof = cross_fitted(loss, X[train], observed, args.epochs, seed)
                    unannotated = observed == 0
                    detection = average_precision_score(hidden[unannotated], oof[unannotated])
                    expected = float(find_missing_labels(observed, oof, seed=seed).expected_missing.sum())
                    records.append(
                        {
                            "data": name,
                            "setting": setting,
                            "seed": seed,
                            "loss": loss,
                            "test_map": test_map,
                            "missing_label_ap": float(detection),
                            "expected_over_true_missing": expected / max(int(hidden.sum()), 1),
                        }
                    )
                    print(records[-1], flush=True)
    lines, summary = [], {}
    for name in ("yeast", "scene"):
        for setting in ("hide50", "single"):
            row = {}
            for loss in LOSSES:
                group = [r for r in records if (r["data"], r["setting"], r["loss"]) == (name, setting, loss)]
                row[loss] = {
                    k: round(statistics.median(r[k] for r in group), 4)
                    for k in ("test_map", "missing_label_ap", "expected_over_true_missing")
                }
            best = max(("asl", "em", "nnpu"), key=lambda loss: row[loss]["test_map"])
            gain = round(100 * (row[best]["test_map"] - row["bce"]["test_map"]), 2)
            summary[f"{name}/{setting}"] = {"losses": row, "best_robust": best, "gain_over_bce_map_points": gain}
            cells = " | ".join(f"{row[loss]['test_map']:.4f} ({row[loss]['missing_label_ap']:.3f})" for loss in LOSSES)
            ratios = " / ".join(f"{row[loss]['expected_over_true_missing']:.2f}" for loss in LOSSES)
            lines.append(f"| {name} | {setting} | {cells} | {best} {gain:+.2f} | {ratios} |")
    table = (
        f"Test mAP (missing-label detection AP on train) per loss; medians over seeds {args.seeds}, "
        f"{args.epochs} epochs, 256-unit MLP.\n\n| data | setting | BCE (assume negative) | ASL | EM | nnPU | "
        "best robust vs BCE (mAP points) | expected / true missing labels (BCE / ASL / EM / nnPU) |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(lines)
    )
    save("multilabel", {"settings": vars(args), "summary": summary, "records": records}, table)
    print(table)


if __name__ == "__main__":
    main()
