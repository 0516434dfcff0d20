"""Precision of flagged label errors against human verification, trueneg vs cleanlab.

    python bench/label_errors.py [--runs 3]

Data: ../shared/data/label-errors (20news, MNIST test sets; cross-validated pred_probs; mturk.json
with 5 raters per candidate). An example is a verified error when fewer than 3 raters affirmed the
given label (``given + both < 3``). Only examples put to raters are verified, so precision@k
counts unverified flagged examples as *not* errors (a lower bound), and the unverified share is
reported next to it. Arms: ``cleanlab.filter.find_label_issues`` (its default prune_by_noise_rate,
ranked by self-confidence) and ``trueneg.labels.find_label_issues`` (default ``both``, and
``prune_by_noise_rate``), same inputs; wall time is the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np
from _common import SHARED, save

from trueneg.labels import find_label_issues


def arms(labels: np.ndarray, probs: np.ndarray) -> dict:
    from cleanlab.filter import find_label_issues as cleanlab_find

    return {
        "cleanlab (prune_by_noise_rate, self_confidence)": lambda: cleanlab_find(
            labels, probs, return_indices_ranked_by="self_confidence"
        ),
        "trueneg (both)": lambda: find_label_issues(labels, probs).ranked,
        "trueneg (prune_by_noise_rate)": lambda: (
            find_label_issues(labels, probs, filter_by="prune_by_noise_rate").ranked
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    results, lines = {}, []
    for name in ("20news", "mnist"):
        folder = SHARED / "label-errors" / name
        probs = np.load(folder / "pred_probs.npy")
        labels = np.load(folder / "given_labels.npy")
        verdict = {
            r["id"]: r["mturk"]["given"] + r["mturk"].get("both", 0) < 3
            for r in json.loads((folder / "mturk.json").read_text())
        }
        ranked, seconds = {}, {}
        for arm, run in arms(labels, probs).items():
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                ranked[arm] = np.asarray(run())
                times.append(time.perf_counter() - start)
            seconds[arm] = statistics.median(times)
        baseline = next(iter(ranked))
        k_max = len(ranked[baseline])
        results[name] = {"verified": len(verdict), "verified_errors": int(sum(verdict.values())), "arms": {}}
        for arm, idx in ranked.items():
            hits = np.array([verdict.get(int(i), False) for i in idx])
            known = np.array([int(i) in verdict for i in idx])
            ks = np.arange(1, len(idx) + 1)
            precision = np.cumsum(hits) / ks
            base_hits = np.array([verdict.get(int(i), False) for i in ranked[baseline]])
            base_precision = np.cumsum(base_hits) / np.arange(1, k_max + 1)
            common = min(len(idx), k_max)
            at_least = float(np.mean(precision[:common] >= base_precision[:common] - 1e-12)) if common else 0.0
            results[name]["arms"][arm] = {
                "flagged": int(len(idx)),
                "precision_at": {
                    str(k): round(float(precision[k - 1]), 4) for k in (5, 10, 20, 50, len(idx)) if 0 < k <= len(idx)
                },
                "precision_curve": [round(float(p), 4) for p in precision],
                "unverified_share": round(float(1 - known.mean()), 4) if len(idx) else None,
                "verified_precision": round(float(hits.sum() / max(known.sum(), 1)), 4),
                "share_of_k_at_least_cleanlab": round(at_least, 4),
                "seconds": round(seconds[arm], 4),
            }
            a = results[name]["arms"][arm]
            p = a["precision_at"]
            lines.append(
                f"| {name} | {arm} | {a['flagged']} | {p.get('5', '')} | {p.get('10', '')} | "
                f"{p.get('20', '')} | {p.get('50', '')} | {p[str(len(idx))] if len(idx) else ''} | "
                f"{a['verified_precision']} | {a['unverified_share']} | {a['share_of_k_at_least_cleanlab']} | "
                f"{a['seconds']:.3f} |"
            )
    table = (
        "Precision@k counts unverified flagged examples as not errors. 'share of k' = share of k in "
        "1..min(flagged, cleanlab flagged) where the arm's precision@k >= cleanlab's.\n\n"
        "| data | arm | flagged | P@5 | P@10 | P@20 | P@50 | P@all | precision among verified | unverified share "
        "| share of k >= cleanlab | seconds |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines)
    )
    save("label_errors", {"settings": vars(args), "results": results}, table)
    print(table)


if __name__ == "__main__":
    main()
