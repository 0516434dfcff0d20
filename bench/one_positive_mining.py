"""One labeled positive per query: contamination of mined negatives against sentence-transformers run with either model.

    python bench/one_positive_mining.py [--collections cisi cacm npl] [--seeds 0 1 2] [--teacher FOLDER]

On CISI, CACM and NPL (dense judgments) :func:`trueneg.data.sparse_labels` keeps one relevant document
per query as its label; the others are known missing positives. Each arm emits up to 10 negatives per
query, and we measure the share of them that are hidden positives (contamination), their hardness
(mean cosine to the query, measured with MiniLM **and** with the second model), how many there are and
how many queries get none:

- sentence-transformers ``mine_hard_negatives(relative_margin=0.05)`` (the real function, default
  window) run with all-MiniLM-L6-v2, and run again with the second model (all-mpnet-base-v2, ``make
  models``) as its model: a user could simply mine with the bigger model;
- naive top-10 (MiniLM);
- trueneg ``max_fn_rate`` targets in a window of 300 MiniLM candidates, three families:
  the detector on MiniLM evidence alone; the detector with the second model's scores as evidence
  (``teacher_*`` signals); and ``--teacher`` as the CLI runs it (evidence and rescoring by the second
  model).

"Matched" is, per seed and per sentence-transformers run, the family's target with the lowest
contamination among those whose negatives are at least as hard as that run's **under that run's model**,
at least as many, and leave no more queries without any. The issue's target: contamination ≤ 0.5x the
better sentence-transformers run. Medians over seeds go to ``bench/results/one_positive_mining.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
from _common import ROOT, SHARED, atomic_path, save, st_cache_file
from false_negatives_classic import TARGETS, WINDOW, st_pairs

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "scripts"))
import second_model  # noqa: E402

from trueneg.candidates import as_encoder, default_cache_dir, resolve_model  # noqa: E402
from trueneg.candidates.pool import retrieve_candidates  # noqa: E402
from trueneg.data import load_beir, sparse_labels  # noqa: E402
from trueneg.mining import mine_negatives  # noqa: E402
from trueneg.mining.teacher import pool_scorer  # noqa: E402
from trueneg.pu import Evidence, FalseNegativeDetector, estimate_false_negatives  # noqa: E402

ST_RUNS = ("sentence-transformers MiniLM", "sentence-transformers second model")
FAMILIES = ("trueneg", "trueneg + teacher evidence", "trueneg --teacher (evidence + rescoring)")


def run_one(name: str, seed: int, cache, teacher: str, st_models: dict, teacher_vectors) -> dict:
    full = load_beir(SHARED / "classic" / name, "test")
    split = sparse_labels(full, keep=1, test_fraction=0.0, seed=seed)
    data = split.train
    wide = retrieve_candidates(data, depth=WINDOW, cache_dir=cache, show_progress=False)
    q_row = {q: i for i, q in enumerate(data.query_ids)}
    d_row = {d: i for i, d in enumerate(data.doc_ids)}
    minilm_q, minilm_d = wide.query_vectors, wide.doc_vectors
    minilm_row = {q: i for i, q in enumerate(wide.query_ids)}
    teacher_q, teacher_d = teacher_vectors(data)

    def score(pairs: list[tuple[str, str]]) -> dict:
        if not pairs:  # a strict target can emit nothing: no hardness to average (and no NaN warning)
            return {"negatives": 0, "contamination": float("nan"), "hardness_minilm": float("nan"),
                    "hardness_teacher": float("nan"), "queries_without_negatives": len(wide.query_ids)}  # fmt: skip
        hidden = split.is_hidden([q for q, _ in pairs], [d for _, d in pairs])
        qi = np.array([minilm_row[q] for q, _ in pairs], dtype=int)
        ti = np.array([q_row[q] for q, _ in pairs], dtype=int)
        di = np.array([d_row[d] for _, d in pairs], dtype=int)
        return {"negatives": len(pairs), "contamination": float(hidden.mean()),
                "hardness_minilm": float(np.einsum("kd,kd->k", minilm_q[qi], minilm_d[di]).mean()),
                "hardness_teacher": float(np.einsum("kd,kd->k", teacher_q[ti], teacher_d[di]).mean()),
                "queries_without_negatives": len(wide.query_ids) - len({q for q, _ in pairs})}  # fmt: skip

    def pairs_of(result) -> list[tuple[str, str]]:
        return [(q, d) for q, docs in result.negative_ids().items() for d in docs]

    common = dict(pool=wide, range_max=WINDOW, show_progress=False, seed=seed)
    scorer = pool_scorer(teacher, data, cache_dir=cache, show_progress=False)
    estimates = {
        "trueneg": estimate_false_negatives(wide, data, detector=FalseNegativeDetector(seed=seed)),
        "trueneg + teacher evidence": estimate_false_negatives(
            wide,
            data,
            detector=FalseNegativeDetector(seed=seed),
            evidence=Evidence.from_pool(data, wide, teacher=scorer),
        ),
    }
    estimates[FAMILIES[2]] = estimates[FAMILIES[1]]
    arms = {}
    for run, model in st_models.items():
        folder = cache / f"st-{run.split()[-1]}-{name}"
        if run == ST_RUNS[1]:
            hand_over(model, data, teacher_q, teacher_d, folder)
        arms[run] = score(st_pairs(model, data, str(folder)))
    arms["naive top-10"] = score(pairs_of(mine_negatives(data, perc_pos=None, near_duplicate=None, **common)))
    for family in FAMILIES:
        extra = {"teacher": teacher, "cache_dir": cache} if "rescoring" in family else {}
        for target in TARGETS:
            res = mine_negatives(data, max_fn_rate=target, fn_estimate=estimates[family], **extra, **common)
            arms[f"{family} max-fn-rate {target}"] = score(pairs_of(res))
    matched = {f"{family} matched to {run}": matched_arm(arms, family, run) for family in FAMILIES for run in ST_RUNS}
    return {"collection": name, "seed": seed, "arms": arms, "matched": matched}


def hand_over(model, data, query_vectors: np.ndarray, doc_vectors: np.ndarray, folder) -> None:
    """Give sentence-transformers' miner the second model's embeddings that trueneg's cache already holds, in its
    own cache files (named as ``mine_hard_negatives`` names them), so the 438 MB model encodes each corpus once.

    The vectors are the same model's, normalized, computed in other batches: on CISI, where sentence-transformers
    had encoded the corpus itself, its vectors and trueneg's differ by at most 7e-7."""
    queries = list(dict.fromkeys(data.query_texts[data.query_index(q)] for q in data.qrels))
    corpus = list(dict.fromkeys(data.doc_texts))
    first_doc = {t: i for i, t in reversed(list(enumerate(data.doc_texts)))}
    first_query = {t: i for i, t in reversed(list(enumerate(data.query_texts)))}
    folder.mkdir(parents=True, exist_ok=True)
    for kind, texts, vectors, row in (("query", queries, query_vectors, first_query),
                                      ("corpus", corpus, doc_vectors, first_doc)):  # fmt: skip
        path = st_cache_file(model, kind, texts, folder)
        if not path.exists():  # written whole or not at all: sentence-transformers would load a truncated file
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, np.asarray(vectors[[row[t] for t in texts]], dtype=np.float32))


def matched_arm(arms: dict, family: str, run: str) -> dict | None:
    """The family's max-fn-rate arm with the lowest contamination among those at least as hard as the
    sentence-transformers ``run`` under that run's own model, emitting at least as many negatives and
    leaving no more queries without any."""
    st = arms[run]
    key = "hardness_minilm" if "MiniLM" in run else "hardness_teacher"
    ok = [a for k, a in arms.items() if k.startswith(f"{family} max-fn-rate") and a[key] >= st[key]
          and a["negatives"] >= st["negatives"]
          and a["queries_without_negatives"] <= st["queries_without_negatives"]]  # fmt: skip
    return min(ok, key=lambda a: a["contamination"]) if ok else None


def med(values: list) -> float:
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", nargs="+", default=["cisi", "cacm", "npl"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher", default=None, help="second model folder [all-mpnet-base-v2 from make models]")
    args = parser.parse_args()
    args.teacher = args.teacher or (str(second_model.folder()) if second_model.folder() else None)
    if not args.teacher:
        sys.exit("no second model: run `make models` or pass --teacher FOLDER")
    from sentence_transformers import SentenceTransformer

    cache = default_cache_dir()
    st_models = {ST_RUNS[0]: SentenceTransformer(resolve_model(None), device="cpu"),
                 ST_RUNS[1]: SentenceTransformer(args.teacher, device="cpu")}  # fmt: skip
    encoder = as_encoder(args.teacher, cache_dir=cache, show_progress=False)

    def teacher_vectors(data) -> tuple[np.ndarray, np.ndarray]:
        return encoder.encode(list(data.query_texts), "query"), encoder.encode(list(data.doc_texts), "document")

    records = []
    for name in args.collections:
        for seed in args.seeds:
            records.append(run_one(name, seed, cache, args.teacher, st_models, teacher_vectors))
            r = records[-1]
            print(name, seed, {k: v and round(v["contamination"], 3) for k, v in r["matched"].items()},
                  {k: round(r["arms"][k]["contamination"], 3) for k in ST_RUNS}, flush=True)  # fmt: skip
    save("one_positive_mining", {"settings": vars(args), "records": records}, table(args, records))
    print(table(args, records))


def table(args, records: list[dict]) -> str:
    fields = ("contamination", "hardness_minilm", "hardness_teacher", "negatives", "queries_without_negatives")
    lines = ["| collection | arm | contamination | hardness (MiniLM) | hardness (second model) | negatives | "
             "queries without | ÷ better sentence-transformers run (median of per-seed ratios) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in args.collections:
        group = [r for r in records if r["collection"] == name]
        better = [min(r["arms"][run]["contamination"] for run in ST_RUNS) for r in group]
        rows = [(arm, [r["arms"][arm] for r in group]) for arm in (*ST_RUNS, "naive top-10")]
        rows += [(arm, [r["matched"][arm] for r in group]) for arm in group[0]["matched"]]
        for arm, values in rows:
            if not any(values):
                lines.append(f"| {name} | {arm} | none qualifies | | | | | |")
                continue
            cells = [med([v[f] if v else None for v in values]) for f in fields]
            ratio = med([v["contamination"] / b if v and b else None for v, b in zip(values, better)])
            found = sum(v is not None for v in values)
            lines.append(f"| {name} | {arm} | {cells[0]:.4f} | {cells[1]:.4f} | {cells[2]:.4f} | {cells[3]:.0f} | "
                         f"{cells[4]:.0f} | {ratio:.2f} ({found}/{len(values)} seeds) |")  # fmt: skip
    return (
        f"Keep 1 labeled positive per query; seeds {args.seeds}; mining model all-MiniLM-L6-v2; second model "
        f"{args.teacher}; window {WINDOW}; 10 negatives per query; medians over seeds.\n\n" + "\n".join(lines)
    )


if __name__ == "__main__":
    main()
