"""Hidden-positives protocol: how well trueneg finds and avoids false negatives it cannot see.

    python bench/false_negatives.py [--seeds 0 1 2] [--fractions 0.1 0.3 0.5] [--modes scar sar]

On SciFact train, a fraction of the labeled (query, positive) pairs is hidden, at random (SCAR) or
preferring positives the model ranks low (SAR: probability proportional to the positive's rank),
and every configuration mines 10 negatives per query on what is left. Against the hidden
positives we measure:

- contamination: share of emitted negatives that are hidden positives, with hardness = mean
  cosine (all-MiniLM-L6-v2, the only model available offline, so it is also the "teacher") of the
  emitted negatives, for naive top-k; sentence-transformers ``mine_hard_negatives`` with
  relative_margin 0.05 (the real function); and trueneg ``max_fn_rate`` at several targets;
- precision@k and average precision of the audit's suspected missing positives (multi-signal
  detector), beside the AP of the score-only detector and of two naive rankings (each query's
  candidates by rank; max cosine to the query's labeled positives);
- absolute error of the estimated false-negative rate: of the negatives trueneg emits with
  PercPos 0.95, and of the audit's top-10 rate, vs the share of hidden positives among them.

Queries whose positives are all hidden have no anchor and are not mined by any arm. SciFact's
original qrels also miss positives (unknown), which the estimators count but the "truth" here does
not: estimates are biased upwards by that amount. Medians over seeds go to bench/results/.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import numpy as np
from _common import SHARED, save, st_negatives

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trueneg.candidates import SentenceTransformerEncoder, default_cache_dir, resolve_model  # noqa: E402
from trueneg.candidates.pool import retrieve_candidates  # noqa: E402
from trueneg.data import RetrievalData, load_beir  # noqa: E402
from trueneg.mining import mine_negatives  # noqa: E402
from trueneg.pu import estimate_false_negatives  # noqa: E402

TARGETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02)


def average_precision(hits: np.ndarray) -> float:
    """Average precision of a ranking given its hits in rank order."""
    return float((np.cumsum(hits) / np.arange(1, len(hits) + 1))[hits].mean()) if hits.any() else 0.0


def hide(data: RetrievalData, fraction: float, mode: str, seed: int, ranks: dict) -> set[tuple[str, str]]:
    """Pairs (query id, doc id) to hide: uniform (SCAR) or with probability ∝ rank (SAR)."""
    pairs = [(q, d) for q, docs in data.qrels.items() for d, g in docs.items() if g > 0]
    rng = np.random.default_rng(seed)
    weights = np.ones(len(pairs)) if mode == "scar" else np.array([ranks[p] for p in pairs], dtype=float)
    keys = np.log(weights) - np.log(-np.log(rng.uniform(1e-12, 1, len(pairs))))
    chosen = np.argsort(-keys)[: round(fraction * len(pairs))]
    return {pairs[i] for i in chosen}


def without(data: RetrievalData, hidden: set[tuple[str, str]]) -> RetrievalData:
    qrels = {q: {d: g for d, g in docs.items() if (q, d) not in hidden} for q, docs in data.qrels.items()}
    return RetrievalData(
        data.doc_ids,
        data.doc_texts,
        data.query_ids,
        data.query_texts,
        {q: docs for q, docs in qrels.items() if docs},
        source=data.source,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--modes", nargs="+", default=["scar", "sar"], choices=["scar", "sar"])
    parser.add_argument("--data", type=Path, default=SHARED / "scifact")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    cache = default_cache_dir()
    data = load_beir(args.data, "train")
    encoder = SentenceTransformerEncoder(cache_dir=cache)
    doc_vec = encoder.encode(data.doc_texts, "document")
    query_vec = encoder.encode(data.query_texts, "query")
    doc_row = {t: i for i, t in enumerate(data.doc_texts)}
    query_row = {t: i for i, t in enumerate(data.query_texts)}
    ranks = {}
    for q, docs in data.qrels.items():
        scores = doc_vec @ query_vec[data.query_index(q)]
        for d in docs:
            ranks[(q, d)] = int((scores > scores[data.doc_index(d)]).sum()) + 1
    st_model = SentenceTransformer(resolve_model(None), device="cpu")
    st_cache = str(cache / "st-bench")

    def score_pairs(pairs: list[tuple[str, str]], hidden_text: set) -> dict:
        sims = [float(query_vec[query_row[q]] @ doc_vec[doc_row[d]]) for q, d in pairs]
        return {
            "negatives": len(pairs),
            "contamination": sum(p in hidden_text for p in pairs) / max(len(pairs), 1),
            "hardness": float(np.mean(sims)) if sims else float("nan"),
        }

    def result_pairs(result) -> list[tuple[str, str]]:
        return [
            (result.query_texts[i], result.doc_texts[d])
            for i, row in enumerate(result.negatives)
            for d in row
            if d >= 0
        ]

    records = []
    for mode in args.modes:
        for fraction in args.fractions:
            for seed in args.seeds:
                hidden = hide(data, fraction, mode, seed, ranks)
                hidden_text = {
                    (data.query_texts[data.query_index(q)], data.doc_texts[data.doc_index(d)]) for q, d in hidden
                }
                visible = without(data, hidden)
                pool = retrieve_candidates(visible, depth=100, cache_dir=cache, show_progress=False)
                arms = {}
                est = estimate_false_negatives(pool, visible, seed=seed)
                score_est = estimate_false_negatives(pool, visible, detector="score", seed=seed)
                naive = mine_negatives(visible, perc_pos=None, near_duplicate=None, pool=pool, show_progress=False)
                arms["naive top-k"] = score_pairs(result_pairs(naive), hidden_text)
                arms["sentence-transformers margin 0.05"] = score_pairs(
                    st_negatives(st_model, visible, st_cache), hidden_text
                )
                perc = mine_negatives(
                    visible, perc_pos=0.95, estimate_fn=True, pool=pool, fn_estimate=est, seed=seed, show_progress=False
                )
                arms["trueneg PercPos 0.95"] = score_pairs(result_pairs(perc), hidden_text)
                for target in TARGETS:
                    res = mine_negatives(
                        visible, max_fn_rate=target, pool=pool, fn_estimate=est, seed=seed, show_progress=False
                    )
                    arms[f"trueneg max-fn-rate {target}"] = {
                        **score_pairs(result_pairs(res), hidden_text),
                        "cutoff": res.summary["false_negatives"]["cutoff"],
                    }
                st = arms["sentence-transformers margin 0.05"]
                matched = [
                    a
                    for name, a in arms.items()
                    if "max-fn-rate" in name and a["hardness"] >= st["hardness"] and a["negatives"] >= st["negatives"]
                ]
                arms["trueneg matched"] = min(matched, key=lambda a: a["contamination"]) if matched else None

                valid = pool.candidates >= 0
                unlabeled = valid & ~est.labeled
                rows, cols = np.nonzero(unlabeled)
                truth = np.array(
                    [(pool.query_ids[r], data.doc_ids[pool.candidates[r, c]]) in hidden for r, c in zip(rows, cols)]
                )
                hits = truth[est.order(rows, cols)]
                ap = average_precision(hits)
                rank = np.cumsum(valid & ~est.labeled, axis=1) - 1
                vec = pool.doc_vectors
                pos = pool.positives[rows]
                sims = np.einsum("kd,kpd->kp", vec[pool.candidates[rows, cols]], vec[np.maximum(pos, 0)])
                max_cos = np.where(pos >= 0, sims, -np.inf).max(axis=1)
                naive_rank = -rank[rows, cols] + 1e-3 * pool.scores[rows, cols]
                other_ap = {
                    "ap_score_detector": average_precision(truth[score_est.order(rows, cols)]),
                    "ap_naive_rank": average_precision(truth[np.argsort(-naive_rank, kind="stable")]),
                    "ap_naive_max_cosine": average_precision(truth[np.argsort(-max_cos, kind="stable")]),
                }
                top10 = unlabeled & (rank < 10)
                top10_truth = np.mean(
                    [
                        (pool.query_ids[r], data.doc_ids[pool.candidates[r, c]]) in hidden
                        for r, c in zip(*np.nonzero(top10))
                    ]
                )
                estimated_perc = perc.summary["false_negatives"]["estimated_fn_rate"]
                records.append(
                    {
                        "mode": mode,
                        "fraction": fraction,
                        "seed": seed,
                        "hidden": len(hidden),
                        "hidden_in_pool": int(truth.sum()),
                        "arms": arms,
                        "suspects": {
                            "p@10": float(hits[:10].mean()),
                            "p@50": float(hits[:50].mean()),
                            "p@100": float(hits[:100].mean()),
                            "ap": ap,
                            **other_ap,
                        },
                        "fn_rate": {
                            "emitted_estimate": estimated_perc,
                            "emitted_truth": arms["trueneg PercPos 0.95"]["contamination"],
                            "emitted_abs_error": abs(estimated_perc - arms["trueneg PercPos 0.95"]["contamination"]),
                            "top10_estimate": est.rate(top10)[0],
                            "top10_truth": float(top10_truth),
                            "top10_abs_error": abs(est.rate(top10)[0] - float(top10_truth)),
                            "label_frequency": est.label_frequency,
                        },
                    }
                )
                print(
                    mode,
                    fraction,
                    seed,
                    {k: (v and round(v["contamination"], 4)) for k, v in arms.items()},
                    records[-1]["suspects"],
                    flush=True,
                )

    def med(values: list[float]) -> float:
        values = [v for v in values if v is not None and v == v]
        return round(statistics.median(values), 4) if values else float("nan")

    lines = ["| setting | arm | contamination | hardness | negatives |", "|---|---|---|---|---|"]
    quality = [
        "| setting | suspects P@10 | P@50 | P@100 | AP | AP score-only | AP naive rank | AP naive max-cos | "
        "est. FN rate emitted (truth) | abs err | est. top-10 rate (truth) | abs err |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for mode in args.modes:
        for fraction in args.fractions:
            group = [r for r in records if r["mode"] == mode and r["fraction"] == fraction]
            setting = f"{mode.upper()} {int(fraction * 100)}% hidden"
            names = list(group[0]["arms"])
            agg = {}
            for name in names:
                arms = [r["arms"][name] for r in group if r["arms"][name]]
                if not arms:
                    lines.append(f"| {setting} | {name} | none at ST hardness | | |")
                    continue
                agg[name] = {k: med([a[k] for a in arms]) for k in ("contamination", "hardness", "negatives")}
                lines.append(
                    f"| {setting} | {name} | {agg[name]['contamination']:.4f} | "
                    f"{agg[name]['hardness']:.4f} | {agg[name]['negatives']:.0f} |"
                )
            keys = ("p@10", "p@50", "p@100", "ap", "ap_score_detector", "ap_naive_rank", "ap_naive_max_cosine")
            s = {k: med([r["suspects"][k] for r in group]) for k in keys}
            f = {k: med([r["fn_rate"][k] for r in group]) for k in group[0]["fn_rate"]}
            quality.append(
                f"| {setting} | {s['p@10']:.2f} | {s['p@50']:.2f} | {s['p@100']:.2f} | {s['ap']:.3f} | "
                f"{s['ap_score_detector']:.3f} | {s['ap_naive_rank']:.3f} | {s['ap_naive_max_cosine']:.3f} | "
                f"{f['emitted_estimate']:.4f} ({f['emitted_truth']:.4f}) | {f['emitted_abs_error']:.4f} | "
                f"{f['top10_estimate']:.4f} ({f['top10_truth']:.4f}) | {f['top10_abs_error']:.4f} |"
            )
            summary[setting] = {"arms": agg, "suspects": s, "fn_rate": f}
    table = (
        f"SciFact train, all-MiniLM-L6-v2, 10 negatives per query, depth 100; medians over seeds "
        f"{args.seeds}. Contamination = share of emitted negatives that are hidden positives; hardness = mean "
        "cosine of emitted negatives; 'trueneg matched' = the max-fn-rate target with the lowest contamination "
        "among those at least as hard as sentence-transformers and emitting at least as many negatives.\n\n"
        + "\n".join(lines)
        + "\n\nSuspected missing positives (audit ranking) and false-negative rate estimates:\n\n"
        + "\n".join(quality)
    )
    save(
        "false_negatives",
        {"settings": vars(args) | {"data": str(args.data)}, "summary": summary, "records": records},
        table,
    )
    print(table)


if __name__ == "__main__":
    main()
