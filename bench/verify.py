"""Verified false-negative estimates (issue 24): coverage, error and width of the judged-sample intervals.

Setting: CISI, CACM and NPL with the sparse-label protocol (all queries on the train side, split
seed 0), keeping 25% of each query's relevant documents and keeping 1. The audit runs once per
collection and regime (MiniLM, depth 100, top-k 10, the assessed mining configuration 10/query with
PercPos 0.95); the judge is simulated from the dense qrels (a hidden relevant document is judged 1,
everything else 0).

For each budget (50, 100, 200, 400 judgments) and each of 100 seeded draws:

- the design of :mod:`trueneg.pu.verify` (70% of the draws on the top-k candidates, 20% on the
  emitted negatives, 10% on the rest of the pool, systematic within each by query and probability) and the difference
  estimator give the top-10 false-negative rate with a 90% interval: coverage of the truth, absolute
  error, width; and, from the same draws, the emitted negatives' rate (the assessed mining
  configuration's, ``audit.json["verified"]["mining"]``) with its interval's coverage and width;
- a uniform random sample of the same budget from the top-10 candidates, without replacement (sample mean,
  t-interval with the finite-population correction), is the reference for the width: what the design and the
  detector earn;
- at 200 judgments (10 seeded samples), mining with ``--judgments`` as ``trueneg mine`` does it (judged pairs as
  labels, probabilities recalibrated on the sample) with ``--max-fn-rate 0.05``: the realized
  false-negative rate of the emitted negatives against the truth, beside the same without judgments;
  and with ``--fn-action relabel``: the realized precision of the relabeled pairs (or nothing relabeled).

Run: ``python bench/verify.py`` (about 13 minutes on 2 cores with the embeddings cached; they are after the first run).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import SHARED, save
from scipy import stats

from trueneg.audit.config import AuditConfig
from trueneg.candidates.encoders import SentenceTransformerEncoder
from trueneg.candidates.pool import member_of, retrieve_candidates
from trueneg.data import load_beir, sparse_labels
from trueneg.io import write_rows
from trueneg.mining import MiningConfig, mine_negatives, mine_pool
from trueneg.pu import estimate_false_negatives
from trueneg.pu.verify import EMITTED_SHARE, TOP_SHARE, draw_design, estimate_total, frame_of, sample_rows

COLLECTIONS = ("cisi", "cacm", "npl")
KEEPS = (0.25, 1)
BUDGETS = (50, 100, 200, 400)
DRAWS = 100  # seeded samples per budget for the intervals (cheap: the estimator only)
MINING_DRAWS = 10  # each is two mining runs with a detector fit: the costly part
LEVEL = 0.9
TOP_K = 10


def setting(name: str, keep: float, encoder) -> tuple:
    """The audit of one collection and regime as ``trueneg audit --verify`` sees it: ``(train, hidden, pool,
    frame, truth, top, in_emitted)``, with each frame pair's truth from the dense qrels."""
    data = load_beir(SHARED / "classic" / name, split="test")
    split = sparse_labels(data, keep=keep, test_fraction=0.0, seed=0)
    train, hidden = split.train, split.hidden
    cfg = AuditConfig(seed=0)
    pool = retrieve_candidates(train, encoder, depth=cfg.depth, show_progress=False)
    est = estimate_false_negatives(pool, train, estimator=cfg.estimator, seed=0)
    mined = mine_pool(train, pool, cfg.mining(), fn_estimate=est, show_progress=False)
    emitted = member_of(pool.candidates, mined.negatives) & (pool.candidates >= 0)
    frame = frame_of(train, pool, est, cfg.depth)
    truth = np.array([d in hidden.get(q, ()) for q, d in zip(frame.query_ids, frame.doc_ids)], dtype=float)
    return train, hidden, pool, frame, truth, frame.rank < TOP_K, frame.mask(emitted)


def simulate(name: str, keep: float, encoder, quick: bool) -> dict:
    train, hidden, pool, frame, truth, top, in_emitted = setting(name, keep, encoder)
    focus = [(top, TOP_SHARE), (in_emitted & ~top, EMITTED_SHARE)]  # as trueneg audit --verify draws
    true_rate = float(truth[top].mean())
    true_emitted = float(truth[in_emitted].mean()) if in_emitted.any() else None
    model_rate = float(frame.probability[top].mean())
    t90 = lambda m: stats.t.ppf((1 + LEVEL) / 2, max(m - 1, 1))  # noqa: E731
    budgets = {}
    for n in BUDGETS if not quick else (50, 200):
        ours, uniform, emitted = [], [], []
        for draw in range(DRAWS if not quick else 5):
            d = draw_design(frame.probability, n, seed=draw, focus=focus, groups=frame.rows)
            e = estimate_total(frame.probability, d, truth[d.index], top).rate(LEVEL)
            ours.append((e["estimated_fn_rate"], e["ci_low"], e["ci_high"]))
            if true_emitted is not None:
                e = estimate_total(frame.probability, d, truth[d.index], in_emitted).rate(LEVEL)
                emitted.append((e["estimated_fn_rate"], e["ci_low"], e["ci_high"]))
            rng = np.random.default_rng(10_000 + draw)
            picked = rng.choice(np.flatnonzero(top), size=min(n, int(top.sum())), replace=False)
            fpc = np.sqrt(1 - len(picked) / top.sum())  # without replacement, as the design draws
            mean = truth[picked].mean()
            half = t90(len(picked)) * truth[picked].std(ddof=1) / np.sqrt(len(picked)) * fpc
            uniform.append((mean, max(mean - half, 0), min(mean + half, 1)))
        budgets[n] = {
            "coverage": statistics.fmean(low <= true_rate <= high for _, low, high in ours),
            "mean_abs_error": statistics.fmean(abs(x - true_rate) for x, _, _ in ours),
            "mean_width": statistics.fmean(high - low for _, low, high in ours),
            "uniform_coverage": statistics.fmean(low <= true_rate <= high for _, low, high in uniform),
            "uniform_mean_abs_error": statistics.fmean(abs(x - true_rate) for x, _, _ in uniform),
            "uniform_mean_width": statistics.fmean(high - low for _, low, high in uniform),
        }
        budgets[n]["width_ratio"] = budgets[n]["mean_width"] / budgets[n]["uniform_mean_width"]
        if emitted:
            budgets[n]["emitted"] = {
                "coverage": statistics.fmean(low <= true_emitted <= high for _, low, high in emitted),
                "mean_abs_error": statistics.fmean(abs(x - true_emitted) for x, _, _ in emitted),
                "mean_width": statistics.fmean(high - low for _, low, high in emitted),
            }
    mining = calibrated_mining(train, hidden, pool, frame, truth, focus, encoder, quick)
    return {"collection": name, "keep": keep, "queries": len(pool.query_ids), "frame_pairs": len(frame),
            "top_k_pairs": int(top.sum()), "true_top_k_rate": round(true_rate, 4),
            "emitted_pairs": int(in_emitted.sum()), "true_emitted_rate": true_emitted,
            "model_based_top_k_rate": round(model_rate, 4), "budgets": budgets, "mining": mining}  # fmt: skip


def _realized(result, hidden: dict) -> tuple[float, int]:
    rows = result.negatives
    pairs = [(result.query_ids[i], result.doc_ids[d]) for i, row in enumerate(rows) for d in row if d >= 0]
    bad = sum(d in hidden.get(q, ()) for q, d in pairs)
    return (bad / len(pairs) if pairs else 0.0), len(pairs)


def calibrated_mining(train, hidden, pool, frame, truth, focus, encoder, quick: bool) -> dict:
    """``mine --max-fn-rate 0.05`` and ``--fn-action relabel`` with and without judgments, at 200 judgments."""
    plain = mine_negatives(train, encoder, MiningConfig(num_negatives=10, max_fn_rate=0.05), show_progress=False)
    plain_rate, plain_n = _realized(plain, hidden)
    guess = mine_negatives(train, encoder, MiningConfig(num_negatives=10, fn_action="relabel"), show_progress=False)
    guessed = [(guess.query_ids[i], guess.doc_ids[d]) for i, row in enumerate(guess.inferred) for d in row]
    guess_precision = sum(d in hidden.get(q, ()) for q, d in guessed) / max(len(guessed), 1)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for draw in range(MINING_DRAWS if not quick else 3):
            rows = sample_rows(train, pool, frame, 200, seed=draw, focus=focus)
            for row in rows:  # each draw stands for another user's sample of the seed-0 audit that mining matches
                row["judgment"] = int(row["doc_id"] in hidden.get(row["query_id"], ()))
                row["sample_id"] = f"{frame.sample_key}-0-200"
            path = Path(tmp) / f"verify-{draw}.jsonl"
            write_rows(path, rows)
            judged_hidden = {(r["query_id"], r["doc_id"]) for r in rows if r["judgment"]}
            remaining = {q: {d for d in docs if (q, d) not in judged_hidden} for q, docs in hidden.items()}
            capped = mine_negatives(train, encoder, MiningConfig(num_negatives=10, max_fn_rate=0.05), judgments=path,
                                    show_progress=False)  # fmt: skip
            rate, n = _realized(capped, remaining)
            relabel = mine_negatives(train, encoder, MiningConfig(num_negatives=10, fn_action="relabel"),
                                     judgments=path, show_progress=False)  # fmt: skip
            inferred = [(relabel.query_ids[i], relabel.doc_ids[d]) for i, row in enumerate(relabel.inferred or [])
                        for d in row]  # fmt: skip
            hits = sum(d in remaining.get(q, ()) for q, d in inferred)
            info = relabel.summary.extra["verification"]["relabel"]
            runs.append({"realized_fn_rate": rate, "negatives": n, "relabeled": len(inferred),
                         "relabel_precision": hits / len(inferred) if inferred else None,
                         "relabel_threshold": info["threshold"]})  # fmt: skip
    precisions = [r["relabel_precision"] for r in runs if r["relabel_precision"] is not None]
    return {
        "max_fn_rate": 0.05,
        "without_judgments": {"realized_fn_rate": round(plain_rate, 4), "negatives": plain_n,
                              "relabeled": len(guessed), "relabel_precision": round(guess_precision, 4)},
        "with_judgments_median_realized_fn_rate": round(statistics.median(r["realized_fn_rate"] for r in runs), 4),
        "with_judgments_max_realized_fn_rate": round(max(r["realized_fn_rate"] for r in runs), 4),
        "with_judgments_median_negatives": statistics.median(r["negatives"] for r in runs),
        "relabel_runs_with_nothing_relabeled": sum(r["relabeled"] == 0 for r in runs),
        "relabel_median_precision": round(statistics.median(precisions), 4) if precisions else None,
        "relabel_min_precision": round(min(precisions), 4) if precisions else None,
        "relabel_median_count": statistics.median(r["relabeled"] for r in runs),
        "runs": runs,
    }


def main() -> None:
    quick = "--quick" in sys.argv
    encoder = SentenceTransformerEncoder(show_progress=False)
    results = []
    for name in COLLECTIONS:
        for keep in KEEPS:
            started = time.perf_counter()
            results.append(simulate(name, keep, encoder, quick))
            print(f"{name} keep {keep}: {time.perf_counter() - started:.0f} s", flush=True)
    lines = ["## Top-10 false-negative rate: 90% intervals from judged samples (100 seeded draws per budget)", "",
             "| collection | keep | true | model-based | budget | coverage | mean abs error | mean width | "
             "uniform width | width ratio | uniform coverage |", "|" + "---|" * 11]  # fmt: skip
    for r in results:
        for n, b in r["budgets"].items():
            lines.append(
                f"| {r['collection']} | {r['keep']} | {r['true_top_k_rate']:.3f} | {r['model_based_top_k_rate']:.3f} | "
                f"{n} | {b['coverage']:.2f} | {b['mean_abs_error']:.4f} | {b['mean_width']:.4f} | "
                f"{b['uniform_mean_width']:.4f} | {b['width_ratio']:.2f} | {b['uniform_coverage']:.2f} |"
            )
    lines += ["", "## The emitted negatives' false-negative rate (the assessed mining configuration), same draws", "",
              "| collection | keep | emitted pairs | true | budget | coverage | mean abs error | mean width |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        if r["true_emitted_rate"] is None:
            lines.append(f"| {r['collection']} | {r['keep']} | 0 | – | – | – | – | – |")
        for n, b in r["budgets"].items():
            if "emitted" in b:
                e, head = b["emitted"], f"| {r['collection']} | {r['keep']} | {r['emitted_pairs']}"
                lines.append(f"{head} | {r['true_emitted_rate']:.3f} | {n} | {e['coverage']:.2f} | "
                             f"{e['mean_abs_error']:.4f} | {e['mean_width']:.4f} |")  # fmt: skip
    lines += ["", "## Mining with 200 judgments (`--judgments`), realized against the dense qrels", "",
              "| collection | keep | `--max-fn-rate 0.05` realized, no judgments | with judgments (median, max) | "
              "negatives (no judgments / median with) | relabel precision, no judgments (relabeled) | "
              "relabel precision with judgments (median, min) | relabeled (median) | runs relabeling nothing |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        m = r["mining"]
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(
            f"| {r['collection']} | {r['keep']} | {m['without_judgments']['realized_fn_rate']:.3f} | "
            f"{m['with_judgments_median_realized_fn_rate']:.3f}, {m['with_judgments_max_realized_fn_rate']:.3f} | "
            f"{m['without_judgments']['negatives']} / {m['with_judgments_median_negatives']:.0f} | "
            f"{m['without_judgments']['relabel_precision']:.3f} ({m['without_judgments']['relabeled']}) | "
            f"{fmt(m['relabel_median_precision'])}, {fmt(m['relabel_min_precision'])} | "
            f"{m['relabel_median_count']:.0f} | {m['relabel_runs_with_nothing_relabeled']} |"
        )
    save("verify" + ("_quick" if quick else ""), {"results": results}, "\n".join(lines))


if __name__ == "__main__":
    main()
