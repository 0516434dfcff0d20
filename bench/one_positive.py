"""One labeled positive per query: does label-free evidence (hubness, CSLS, reverse rank) help the detector?

    python bench/one_positive.py [--collections cisi cacm npl] [--keeps 1 0.25] [--seeds 0 1 2]

On CISI, CACM and NPL (dense judgments) :func:`trueneg.data.sparse_labels` keeps 1 (or 25%) of each
query's relevant documents as labels; the rest are known missing positives. With all-MiniLM-L6-v2
and each query's top 100 candidates, the unlabeled candidates of all queries are ranked by:

- the detector (``estimate_false_negatives``) with its default signals, which now include
  ``hubness``, ``csls`` and ``query_rank`` (:mod:`trueneg.pu.evidence`);
- the detector with the signals it had before them (the same call with ``signals=`` the older set);
- with ``--teacher`` (default: all-mpnet-base-v2 when ``make models`` has installed it), the
  detector with the second model's ``teacher_*`` signals too;
- naive rankings: per-query rank, max cosine to the labeled positives, and CSLS
  (``2 cos(q, d) - mean cos of d to its 10 nearest queries``) alone; with a teacher also its
  per-query rank and the mean of both models' ranks.

Reported: average precision against the hidden positives (medians over seeds, and the detector's
ratio to the best naive ranking per run), and the estimated share of missing positives among each
query's 10 best unlabeled candidates against the truth.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
from _common import ROOT, SHARED, save
from false_negatives_classic import average_precision, naive_detection, pairs_hidden, pool_truth

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "scripts"))
import second_model  # noqa: E402

from trueneg.candidates import default_cache_dir  # noqa: E402
from trueneg.candidates.pool import retrieve_candidates  # noqa: E402
from trueneg.data import load_beir, sparse_labels  # noqa: E402
from trueneg.mining.teacher import pool_scorer  # noqa: E402
from trueneg.pu import Evidence, FalseNegativeDetector, estimate_false_negatives  # noqa: E402
from trueneg.pu.evidence import SIGNALS, TEACHER_SIGNALS  # noqa: E402

HUB = ("hubness", "csls", "query_rank")
NAIVE = ("naive rank", "naive max cosine to labeled positives", "naive CSLS")


def sparse_pool(name: str, keep_text: str, seed: int, cache) -> tuple:
    """``(full, split, data, pool)``: the collection, its sparse-label split (``"1"`` keeps one positive per query,
    ``"0.25"`` a quarter), the train side and its MiniLM top-100 candidates."""
    full = load_beir(SHARED / "classic" / name, "test")
    keep = float(keep_text) if "." in keep_text else int(keep_text)
    split = sparse_labels(full, keep=keep, test_fraction=0.0, seed=seed)
    return full, split, split.train, retrieve_candidates(split.train, depth=100, cache_dir=cache, show_progress=False)


def run_one(name: str, keep_text: str, seed: int, cache, teacher) -> dict:
    _, split, data, pool = sparse_pool(name, keep_text, seed, cache)
    _, unlabeled, rows, cols, truth, rank = pool_truth(split, data, pool)
    top10 = unlabeled & (rank < 10)
    t_rows, t_cols = np.nonzero(top10)
    top10_truth = float(pairs_hidden(split, pool, data, t_rows, t_cols).mean())
    scorer = pool_scorer(teacher, data, cache_dir=cache, show_progress=False) if teacher is not None else None
    evidence = Evidence.from_pool(data, pool, teacher=scorer)
    out: dict = {"collection": name, "keep": keep_text, "seed": seed, "hidden": int(truth.sum()), "ap": {}, "rate": {}}
    older = tuple(s for s in evidence.available() if s not in HUB and s not in TEACHER_SIGNALS)
    arms = [("detector", tuple(s for s in evidence.available() if s not in TEACHER_SIGNALS)),
            ("detector without hub signals", older)]  # fmt: skip
    if scorer is not None:
        arms.append(("detector + teacher", None))
    for arm, signals in arms:
        detector = FalseNegativeDetector(signals=signals, seed=seed)
        est = estimate_false_negatives(pool, data, detector=detector, evidence=evidence)
        out["ap"][arm] = average_precision(est.probability[rows, cols], truth, est.order(rows, cols))[0]
        out["rate"][arm] = est.rate(top10)[0]
        out.setdefault("importance", {})[arm] = est.details.get("importance")
    out["rate"]["truth"] = top10_truth
    out["ap"].update({arm: value["ap"] for arm, value in naive_detection(pool, rank, rows, cols, truth).items()})
    csls = evidence.features(pool, ("csls",))[:, :, 0]
    out["ap"]["naive CSLS"] = average_precision(csls[rows, cols], truth)[0]
    if scorer is not None:
        both = evidence.features(pool, ("teacher_rank", "rank_mean"))
        out["ap"]["naive teacher rank"] = average_precision(
            both[rows, cols, 0] + 1e-6 * pool.scores[rows, cols], truth
        )[0]
        out["ap"]["naive mean of both ranks"] = average_precision(both[rows, cols, 1], truth)[0]
    best_naive = max(out["ap"][a] for a in out["ap"] if a.startswith("naive"))
    out["ratio_to_best_naive"] = {a: out["ap"][a] / best_naive for a in out["ap"] if a.startswith("detector")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", nargs="+", default=["cisi", "cacm", "npl"])
    parser.add_argument("--keeps", nargs="+", default=["1", "0.25"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher", default=None, help="second model folder [all-mpnet-base-v2 if installed]")
    parser.add_argument("--no-teacher", action="store_true")
    parser.add_argument("--out", default="one_positive", help="results name under bench/results/ [one_positive]")
    args = parser.parse_args()
    if args.teacher is None and not args.no_teacher:
        found = second_model.folder()
        args.teacher = str(found) if found else None
    assert set(HUB) <= set(SIGNALS)
    cache = default_cache_dir()
    records = []
    for name in args.collections:
        for keep in args.keeps:
            for seed in args.seeds:
                records.append(run_one(name, keep, seed, cache, args.teacher))
                r = records[-1]
                print(name, keep, seed, {k: round(v, 3) for k, v in r["ap"].items()},
                      {k: round(v, 3) for k, v in r["rate"].items()}, flush=True)  # fmt: skip
    arms = ("detector", "detector without hub signals", *NAIVE)
    if args.teacher:
        arms = ("detector + teacher", *arms, "naive teacher rank", "naive mean of both ranks")
    lines = []
    for name in args.collections:
        for keep in args.keeps:
            group = [r for r in records if r["collection"] == name and r["keep"] == keep]
            med = lambda f, group=group: statistics.median(f(r) for r in group)  # noqa: E731
            cells = " | ".join(f"{med(lambda r, a=a: r['ap'][a]):.3f}" for a in arms)
            detectors = [a for a in arms if a.startswith("detector")]
            ratios = " / ".join(f"{med(lambda r, a=a: r['ratio_to_best_naive'][a]):.2f}" for a in detectors)
            rates = " / ".join(f"{100 * med(lambda r, a=a: r['rate'][a]):.1f}" for a in (*detectors, "truth"))
            lines.append(f"| {name} | {keep} | {cells} | {ratios} | {rates} |")
    table = (
        f"Average precision of ranking the unlabeled top-100 candidates against the hidden positives; medians over "
        f"seeds {args.seeds}; all-MiniLM-L6-v2; teacher {args.teacher}.\n\n| collection | keep | " + " | ".join(arms)
        + f" | {' / '.join(a for a in arms if a.startswith('detector'))} ÷ best naive | top-10 rate %"
        f" ({' / '.join(a for a in arms if a.startswith('detector'))} / truth) |\n"
        + "|---|---|" + "---|" * (len(arms) + 2) + "\n" + "\n".join(lines)
    )  # fmt: skip
    save(args.out, {"settings": vars(args), "records": records}, table)
    print(table)


if __name__ == "__main__":
    main()
