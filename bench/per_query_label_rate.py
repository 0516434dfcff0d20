"""One labeled positive per query: can a per-query labeling rate ``c_q`` be estimated, and would it help?

    python bench/per_query_label_rate.py [--collections cisi cacm npl] [--keeps 1 0.25] [--seeds 0 1 2]

With one labeled positive per query, the chance that a relevant document is the labeled one is
``c_q = 1 / R_q`` (``R_q``: the query's number of relevant documents), different for every query
(SAR), while the detector's Elkan–Noto posterior uses one pooled ``c``. If ``R_q`` were known, the
missing-positive probability of a candidate would be ``g · R_q`` (``g``: the detector's out-of-fold
``P(labeled | signals)``), and ranking by it would reorder candidates *across* queries. This bench
ranks the unlabeled top-100 candidates (all-MiniLM-L6-v2, CISI/CACM/NPL with
:func:`trueneg.data.sparse_labels`) by:

- the detector as it is (pooled ``c``);
- ``g · R_q`` with the true ``R_q`` from the dense qrels (an oracle: the most a per-query rate can give);
- ``g · R̂_q`` with label-free estimates of ``R_q``: twice the rank of the labeled positive (it is a
  uniform draw among the relevant documents, which sit near the top); the query's expected number of
  positives under the pooled model (``1 + Σ`` posteriors of its candidates); the query's sum of ``g``.

Reported: AP against the hidden positives (medians over seeds) and the Pearson correlation of each
estimate with the true ``R_q``. Results: ``bench/results/per_query_label_rate.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
from _common import save
from false_negatives_classic import average_precision, pool_truth
from one_positive import sparse_pool

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trueneg.candidates import default_cache_dir  # noqa: E402
from trueneg.pu import estimate_false_negatives  # noqa: E402

ESTIMATES = ("2 x rank of the labeled positive", "expected positives under the pooled model", "sum of g")


def run_one(name: str, keep_text: str, seed: int, cache) -> dict:
    full, split, data, pool = sparse_pool(name, keep_text, seed, cache)
    labeled, _, rows, cols, truth, _ = pool_truth(split, data, pool)
    est = estimate_false_negatives(pool, data, seed=seed)
    g = np.nan_to_num(est.labeled_probability, nan=0.0)
    n_labeled = np.maximum(labeled.sum(axis=1), 1)
    true_r = np.array([sum(v > 0 for v in full.qrels[q].values()) for q in pool.query_ids], dtype=float)
    position = np.where(labeled, np.arange(1, labeled.shape[1] + 1)[None, :], 0).sum(axis=1) / n_labeled
    guesses = {
        ESTIMATES[0]: np.maximum(2 * np.where(labeled.any(axis=1), position, labeled.shape[1]), 1) * n_labeled,
        ESTIMATES[1]: n_labeled + np.nansum(np.where(labeled, 0.0, est.probability), axis=1),
        ESTIMATES[2]: g.sum(axis=1),
    }
    ap = {
        "detector (pooled c)": average_precision(est.probability[rows, cols], truth, est.order(rows, cols))[0],
        "g x true R_q (oracle)": average_precision((g * true_r[:, None] / n_labeled[:, None])[rows, cols], truth)[0],
    }
    corr = {}
    for what, r_hat in guesses.items():
        ap[f"g x R_q estimated by {what}"] = average_precision((g * r_hat[:, None] / n_labeled[:, None])[rows, cols],
                                                              truth)[0]  # fmt: skip
        corr[what] = float(np.corrcoef(true_r, r_hat)[0, 1])
    return {"collection": name, "keep": keep_text, "seed": seed, "ap": ap, "correlation_with_true_R": corr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", nargs="+", default=["cisi", "cacm", "npl"])
    parser.add_argument("--keeps", nargs="+", default=["1", "0.25"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    cache = default_cache_dir()
    records = []
    for name in args.collections:
        for keep in args.keeps:
            for seed in args.seeds:
                records.append(run_one(name, keep, seed, cache))
                print(name, keep, seed, {k: round(v, 3) for k, v in records[-1]["ap"].items()}, flush=True)
    arms = list(records[0]["ap"])
    lines = ["| collection | keep | " + " | ".join(f"AP: {a}" for a in arms) + " | "
             + " | ".join(f"corr(R_q, {e})" for e in ESTIMATES) + " |",
             "|---|---|" + "---|" * (len(arms) + len(ESTIMATES))]  # fmt: skip
    for name in args.collections:
        for keep in args.keeps:
            group = [r for r in records if r["collection"] == name and r["keep"] == keep]
            aps = [f"{statistics.median(r['ap'][a] for r in group):.3f}" for a in arms]
            cors = [f"{statistics.median(r['correlation_with_true_R'][e] for r in group):.2f}" for e in ESTIMATES]
            lines.append(f"| {name} | {keep} | " + " | ".join(aps + cors) + " |")
    table = (
        f"Unlabeled top-100 candidates, all-MiniLM-L6-v2, medians over seeds {args.seeds}. `g`: the detector's "
        "out-of-fold P(labeled | signals); `R_q`: the query's relevant documents.\n\n" + "\n".join(lines)
    )
    save("per_query_label_rate", {"settings": vars(args), "records": records}, table)
    print(table)


if __name__ == "__main__":
    main()
