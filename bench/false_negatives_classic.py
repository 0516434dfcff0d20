"""The false-negative detector where false negatives are real: sparse labels on densely judged collections.

    python bench/false_negatives_classic.py [--collections cisi cacm npl] [--keeps 0.25 1 0.7] [--seeds 0 1 2]

For each collection in ``../shared/data/classic`` (dense judgments: 15-41 relevant documents per
query), :func:`trueneg.data.sparse_labels` keeps 25% (or 1) of each query's relevant documents as
labels (and 70%: 30% hidden, as in sparse but not single-label annotation); the rest are known
missing positives (all queries are train queries here). With
all-MiniLM-L6-v2 we measure:

- **detection**: average precision and precision@100 of the ranking of unlabeled top-100 candidates
  (every query's pool merged) against the hidden positives, for the multi-signal detector
  (``detector="multi"``), the score-only detector (``"score"``), and two naive rankings: each
  query's candidates by rank (rank 1 of every query first, ties by score), and the maximum cosine
  between the candidate and the query's labeled positive documents;
- **contamination at matched hardness**: share of emitted negatives (10 per query) that are hidden
  positives, with hardness = mean cosine of the emitted negatives, for naive top-10,
  sentence-transformers ``mine_hard_negatives(relative_margin=0.05)`` (the real function, default
  window), trueneg PercPos 0.95 and trueneg ``max_fn_rate`` (multi detector) at several targets, the
  trueneg arms in a window of 300 candidates; "trueneg matched" is the target with the lowest
  contamination among those at least as hard as sentence-transformers' negatives and emitting at
  least as many (per seed);
- **relabeling**: with ``fn_action="relabel"`` (at ``max_fn_rate=0.05``), how many inferred positives
  are written and which share of them are hidden positives (precision);
- **rate**: the detector's estimated share of missing positives among each query's top-10
  unlabeled candidates and among the emitted negatives of each ``max_fn_rate`` arm, its interval,
  and the truth.

Medians over seeds go to ``bench/results/false_negatives_classic.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from _common import SHARED, save, st_negatives

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trueneg.candidates import default_cache_dir, resolve_model  # noqa: E402
from trueneg.candidates.pool import retrieve_candidates  # noqa: E402
from trueneg.data import load_beir, sparse_labels  # noqa: E402
from trueneg.mining import mine_negatives  # noqa: E402
from trueneg.pu import Evidence, estimate_false_negatives, population  # noqa: E402

TARGETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
WINDOW = 300


def average_precision(score: np.ndarray, truth: np.ndarray, order: np.ndarray | None = None) -> tuple[float, float]:
    """AP and precision@100 of ranking by ``score`` (descending, stable), or in the given ``order``."""
    hits = truth[np.argsort(-score, kind="stable") if order is None else order]
    ap = float((np.cumsum(hits) / np.arange(1, len(hits) + 1))[hits].mean()) if hits.any() else 0.0
    return ap, float(hits[:100].mean())


def st_pairs(model, data, cache: str) -> list[tuple[str, str]]:
    """(query id, doc id) pairs of sentence-transformers' negatives (relative margin 0.05, 10 per query)."""
    query_by_text = {data.query_texts[data.query_index(q)]: q for q in data.qrels}
    doc_by_text = {t: d for d, t in zip(data.doc_ids, data.doc_texts)}
    return sorted({(query_by_text[q], doc_by_text[d]) for q, d in st_negatives(model, data, cache)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", nargs="+", default=["cisi", "cacm", "npl"])
    parser.add_argument("--keeps", nargs="+", default=["0.25", "1", "0.7"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    cache = default_cache_dir()
    st_model = SentenceTransformer(resolve_model(None), device="cpu")
    records = []
    for name in args.collections:
        full = load_beir(SHARED / "classic" / name, "test")
        for keep_text in args.keeps:
            keep = float(keep_text) if "." in keep_text else int(keep_text)
            for seed in args.seeds:
                started = time.perf_counter()
                split = sparse_labels(full, keep=keep, test_fraction=0.0, seed=seed)
                data = split.train
                records.append(run_one(name, keep_text, seed, split, data, cache, st_model))
                records[-1]["seconds"] = round(time.perf_counter() - started, 1)
                r = records[-1]
                print(name, keep_text, seed, {k: round(v["ap"], 3) for k, v in r["detection"].items()},
                      {k: v and round(v["contamination"], 3) for k, v in r["arms"].items()}, r["rate"]["top10"],
                      flush=True)  # fmt: skip
    write(args, records)


def pairs_hidden(split, pool, data, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Is each pool pair ``(rows[i], cols[i])`` a hidden positive?"""
    return split.is_hidden(
        [pool.query_ids[r] for r in rows], [data.doc_ids[pool.candidates[r, c]] for r, c in zip(rows, cols)]
    )


def pool_truth(split, data, pool) -> tuple[np.ndarray, ...]:
    """``(labeled, unlabeled, rows, cols, truth, rank)``: the pool's unlabeled pairs, which are hidden
    positives, and each candidate's rank among the query's unlabeled ones."""
    labeled, _, pop = population(pool)
    unlabeled = pop & ~labeled
    rows, cols = np.nonzero(unlabeled)
    truth = pairs_hidden(split, pool, data, rows, cols)
    rank = np.cumsum((pool.candidates >= 0) & ~labeled, axis=1) - 1
    return labeled, unlabeled, rows, cols, truth, rank


def naive_detection(pool, rank, rows, cols, truth) -> dict[str, dict[str, float]]:
    """AP and P@100 of the two naive rankings: per-query rank, and max cosine to the labeled positives."""
    out = {}
    ap, p100 = average_precision(-rank[rows, cols] + 1e-3 * pool.scores[rows, cols], truth)
    out["naive rank"] = {"ap": ap, "p@100": p100}
    vectors = pool.doc_vectors
    sims = np.einsum("kd,kpd->kp", vectors[pool.candidates[rows, cols]], vectors[np.maximum(pool.positives[rows], 0)])
    max_cos = np.where(pool.positives[rows] >= 0, sims, -np.inf).max(axis=1)
    ap, p100 = average_precision(max_cos, truth)
    out["naive max cosine to labeled positives"] = {"ap": ap, "p@100": p100}
    return out


def run_one(name, keep_text, seed, split, data, cache, st_model) -> dict:
    pool = retrieve_candidates(data, depth=100, cache_dir=cache, show_progress=False)
    labeled, unlabeled, rows, cols, truth, rank = pool_truth(split, data, pool)
    detection, details = {}, {}
    evidence = Evidence.from_pool(data, pool)
    estimates = {}
    for detector in ("multi", "score"):
        est = estimate_false_negatives(pool, data, detector=detector, seed=seed, evidence=evidence)
        estimates[detector] = est
        ap, p100 = average_precision(est.probability[rows, cols], truth, est.order(rows, cols))
        detection[f"trueneg {detector}"] = {"ap": ap, "p@100": p100}
        details[detector] = est.details
    detection.update(naive_detection(pool, rank, rows, cols, truth))

    top10 = unlabeled & (rank < 10)
    t_rows, t_cols = np.nonzero(top10)
    top10_truth = float(pairs_hidden(split, pool, data, t_rows, t_cols).mean())
    est = estimates["multi"]
    rate = {"top10": {"estimate": est.rate(top10)[0], "ci": list(est.rate(top10)[1:]), "truth": top10_truth}}
    rate["top10"]["covered"] = rate["top10"]["ci"][0] <= top10_truth <= rate["top10"]["ci"][1]

    # mining arms in a window of WINDOW candidates
    wide = retrieve_candidates(data, depth=WINDOW, cache_dir=cache, show_progress=False)
    wide_est = estimate_false_negatives(wide, data, seed=seed)
    q_vec, d_vec = wide.query_vectors, wide.doc_vectors
    q_row = {q: i for i, q in enumerate(wide.query_ids)}
    d_row = {d: i for i, d in enumerate(data.doc_ids)}

    def score(pairs) -> dict:
        hidden = split.is_hidden([q for q, _ in pairs], [d for _, d in pairs])
        sims = [float(q_vec[q_row[q]] @ d_vec[d_row[d]]) for q, d in pairs]
        return {"negatives": len(pairs), "contamination": float(hidden.mean()) if pairs else float("nan"),
                "hardness": float(np.mean(sims)) if sims else float("nan"),
                "queries_without_negatives": len(wide.query_ids) - len({q for q, _ in pairs})}  # fmt: skip

    def pairs_of(result) -> list[tuple[str, str]]:
        return [(q, d) for q, docs in result.negative_ids().items() for d in docs]

    common = dict(pool=wide, range_max=WINDOW, show_progress=False, seed=seed)
    arms = {
        "naive top-10": score(pairs_of(mine_negatives(data, perc_pos=None, near_duplicate=None, **common))),
        "sentence-transformers margin 0.05": score(st_pairs(st_model, data, str(cache / f"st-{name}"))),
        "trueneg PercPos 0.95": score(pairs_of(mine_negatives(data, perc_pos=0.95, **common))),
    }
    rate["emitted"] = {}
    for target in TARGETS:
        res = mine_negatives(data, max_fn_rate=target, fn_estimate=wide_est, **common)
        arms[f"trueneg max-fn-rate {target}"] = score(pairs_of(res))
        fn = res.summary["false_negatives"]
        truth_t = arms[f"trueneg max-fn-rate {target}"]["contamination"]
        ci = [fn["ci_low"], fn["ci_high"]]
        covered = ci[0] <= truth_t <= ci[1]
        rate["emitted"][str(target)] = {
            "estimate": fn["estimated_fn_rate"],
            "ci": ci,
            "truth": truth_t,
            "covered": covered,
        }
    arms["trueneg matched"] = matched_arm(arms)
    relabel = mine_negatives(data, max_fn_rate=0.05, fn_estimate=wide_est, fn_action="relabel", **common)
    inferred = [(q, d) for q, docs in relabel.inferred_ids().items() for d in docs]
    relabeled = {
        "inferred": len(inferred),
        "precision": float(split.is_hidden([q for q, _ in inferred], [d for _, d in inferred]).mean())
        if inferred
        else float("nan"),
        "queries": relabel.summary["fn_action"]["queries_relabeled"],
        **{f"negatives_{k}": v for k, v in score(pairs_of(relabel)).items()},
    }
    return {"collection": name, "keep": keep_text, "seed": seed, "hidden_in_pool": int(truth.sum()),
            "unlabeled_in_pool": int(len(truth)), "detection": detection, "arms": arms, "rate": rate,
            "relabel": relabeled,
            "detector": details}  # fmt: skip


def matched_arm(arms: dict) -> dict | None:
    """The max-fn-rate arm with the lowest contamination among those at least as hard as
    sentence-transformers' negatives and emitting at least as many."""
    st = arms["sentence-transformers margin 0.05"]
    ok = [a for k, a in arms.items() if "max-fn-rate" in k and a["hardness"] >= st["hardness"]
          and a["negatives"] >= st["negatives"]]  # fmt: skip
    return min(ok, key=lambda a: a["contamination"]) if ok else None


def med(values: list) -> float:
    values = [v for v in values if v is not None and v == v]
    return round(statistics.median(values), 4) if values else float("nan")


def write(args, records: list[dict]) -> None:
    det_lines = [
        "| collection | keep | trueneg multi AP | P@100 | trueneg score AP | P@100 | naive rank AP | P@100 | "
        "naive max-cos AP | P@100 | multi / best naive |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    arm_lines = ["| collection | keep | arm | contamination | hardness | negatives | queries without |",
                 "|---|---|---|---|---|---|---|"]  # fmt: skip
    relabel_lines = [
        "| collection | keep | inferred positives | queries | precision (hidden positives) | "
        "negatives' contamination | hardness |",
        "|---|---|---|---|---|---|---|",
    ]
    rate_lines = ["| collection | keep | what | estimated | interval | truth | covered (seeds) |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
    summary = {}
    for name in args.collections:
        for keep in args.keeps:
            group = [r for r in records if r["collection"] == name and r["keep"] == keep]
            if not group:
                continue
            det = {
                k: {m: med([r["detection"][k][m] for r in group]) for m in ("ap", "p@100")}
                for k in group[0]["detection"]
            }
            best_naive = max(det["naive rank"]["ap"], det["naive max cosine to labeled positives"]["ap"])
            names = ("trueneg multi", "trueneg score", "naive rank", "naive max cosine to labeled positives")
            cells = " | ".join(f"{det[k]['ap']:.3f} | {det[k]['p@100']:.2f}" for k in names)
            det_lines.append(f"| {name} | {keep} | {cells} | {det['trueneg multi']['ap'] / best_naive:.2f}x |")
            arms = {}
            for arm in group[0]["arms"]:
                values = [r["arms"][arm] for r in group if r["arms"][arm]]
                if not values:
                    arm_lines.append(f"| {name} | {keep} | {arm} | none at ST hardness | | | |")
                    continue
                arms[arm] = {k: med([v[k] for v in values]) for k in ("contamination", "hardness", "negatives",
                                                                       "queries_without_negatives")}  # fmt: skip
                a = arms[arm]
                arm_lines.append(f"| {name} | {keep} | {arm} | {a['contamination']:.4f} | {a['hardness']:.4f} | "
                                 f"{a['negatives']:.0f} | {a['queries_without_negatives']:.0f} |")  # fmt: skip
            rates = {}
            for what, pick in [("top-10 unlabeled", lambda r: r["rate"]["top10"])] + [
                (f"emitted, max-fn-rate {t}", lambda r, t=t: r["rate"]["emitted"][str(t)]) for t in TARGETS
            ]:
                vals = [pick(r) for r in group]
                rates[what] = {"estimate": med([v["estimate"] for v in vals]), "truth": med([v["truth"] for v in vals]),
                               "ci": [med([v["ci"][0] for v in vals]), med([v["ci"][1] for v in vals])],
                               "covered": sum(v["covered"] for v in vals), "seeds": len(vals)}  # fmt: skip
                x = rates[what]
                interval = f"{x['ci'][0]:.3f}–{x['ci'][1]:.3f}"
                rate_lines.append(
                    f"| {name} | {keep} | {what} | {x['estimate']:.3f} | {interval} | {x['truth']:.3f} "
                    f"| {x['covered']}/{x['seeds']} |"
                )
            rel = {k: med([r["relabel"][k] for r in group]) for k in group[0]["relabel"]}
            relabel_lines.append(
                f"| {name} | {keep} | {rel['inferred']:.0f} | {rel['queries']:.0f} | {rel['precision']:.3f} | "
                f"{rel['negatives_contamination']:.4f} | {rel['negatives_hardness']:.4f} |"
            )
            summary[f"{name} keep={keep}"] = {"detection": det, "arms": arms, "rate": rates, "relabel": rel}
    table = (
        f"all-MiniLM-L6-v2; sparse labels from dense judgments (trueneg.data.sparse_labels, all queries train); "
        f"medians over seeds {args.seeds}. Detection over each query's top-100 unlabeled candidates.\n\n"
        + "\n".join(det_lines)
        + f"\n\nContamination (share of emitted negatives that are hidden positives) and hardness (mean cosine), "
        f"10 negatives per query; trueneg arms in a window of {WINDOW}:\n\n"
        + "\n".join(arm_lines)
        + "\n\nRelabeling (`max_fn_rate=0.05, fn_action='relabel'`: suspects with probability >= 0.5, at most 5 "
        "per query, become inferred positives):\n\n"
        + "\n".join(relabel_lines)
        + "\n\nEstimated vs true share of missing positives (multi detector):\n\n"
        + "\n".join(rate_lines)
    )
    save("false_negatives_classic", {"settings": vars(args), "summary": summary, "records": records}, table)
    print(table)


if __name__ == "__main__":
    main()
