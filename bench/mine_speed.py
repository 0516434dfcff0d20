"""Whole-process wall time, peak memory and agreement of trueneg vs sentence-transformers mining.

    python bench/mine_speed.py [--runs 3] [--data ../shared/data/scifact]

Same job for every arm: SciFact train qrels, all-MiniLM-L6-v2 (offline copy), 10 negatives per
query, top sampling, TopK-PercPos 0.95 (= sentence-transformers relative_margin 0.05), exact
search. Arms: sentence-transformers ``mine_hard_negatives`` (use_faiss, flat index); trueneg
full precision (``--backend torch``); trueneg int8 (``--backend onnx-int8``). Each arm runs
``--runs`` times cold (empty cache folder) and warm (second run on the same cache), each run a
fresh process; we report medians, peak RSS, and the share of trueneg's full-precision negatives
that each arm also selects.

What was tried for the cold run (2-core AVX2 CPU; encoding 5,183 abstracts is nearly all of it):
- length-bucketed batches (~1,024 tokens a batch, trueneg's default): 1.15-1.2x faster encoding
  than a fixed batch of 32 in a same-process micro-benchmark, identical embeddings; within the
  run-to-run noise of the whole process (227-273 s over three runs);
- ONNX Runtime fp32 and its transformer-fusion optimizer: no faster than torch; torch dynamic
  int8: 1.1x with cosine 0.92; bf16 autocast: 7x slower (no AVX512-BF16);
- ONNX int8 per channel (``--backend onnx-int8``): ~1.3x whole process, cosine 0.993, but 77% of
  the negatives in common (near-tied candidates reorder);
- encoding only what the job needs (a cheap int8 128-token pass, then exact encoding of each
  query's uncertain band): with 809 queries the bands cover 5,129-5,183 of 5,183 abstracts;
- threads: 1 thread 16.6 s vs 2 threads 9.6 s for 200 abstracts, so the 2 cores are already used.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _common import ROOT, SHARED, median, save, timed

TRUENEG = [sys.executable, "-m", "trueneg.cli"]


def _negatives_of_rows(path: Path) -> dict[str, list[str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {row["query"]: row["neg"] for row in rows}


def _overlap(reference: dict[str, list[str]], other: dict[str, list[str]]) -> float:
    total = sum(len(v) for v in reference.values())
    shared = sum(len(set(v) & set(other.get(q, []))) for q, v in reference.items())
    return round(shared / total, 4)


def arm_command(name: str, data: Path, out: Path, cache: Path) -> list[str]:
    """The whole-process command of one arm."""
    if name == "sentence-transformers":
        return [
            sys.executable,
            str(ROOT / "bench" / "_st_mine.py"),
            str(data),
            "train",
            str(out),
            str(cache),
            "10",
            "0.05",
        ]
    backend = "torch" if name == "trueneg" else "onnx-int8"
    return [
        *TRUENEG,
        "mine",
        str(data),
        "--split",
        "train",
        "-n",
        "10",
        "--perc-pos",
        "0.95",
        "--backend",
        backend,
        "--output",
        str(out),
        "--cache-dir",
        str(cache),
        "--quiet",
        "--json",
    ]


def run_arms(names: list[str], data: Path, runs: int, work: Path) -> dict[str, dict]:
    """Each repetition runs every arm cold then warm, arms interleaved so that a noisy spell of the
    machine hits all arms alike."""
    arms = {name: {"cold": [], "warm": [], "negatives": None} for name in names}
    for i in range(runs):
        for name in names:
            cache = work / f"{name}-cache-{i}"
            out = work / (f"{name}-{i}.json" if name == "sentence-transformers" else f"{name}-{i}.jsonl")
            cmd = arm_command(name, data, out, cache)
            for phase in ("cold", "warm"):
                arms[name][phase].append(timed(cmd))
                print(f"{name} run {i} {phase}: {arms[name][phase][-1]}", flush=True)
            if arms[name]["negatives"] is None:
                arms[name]["negatives"] = (
                    json.loads(out.read_text()) if out.suffix == ".json" else _negatives_of_rows(out)
                )
            shutil.rmtree(cache, ignore_errors=True)
    return {
        name: {
            "cold_seconds": median([r["seconds"] for r in arm["cold"]]),
            "warm_seconds": median([r["seconds"] for r in arm["warm"]]),
            "cold_peak_mb": median([r["peak_mb"] for r in arm["cold"]]),
            "warm_peak_mb": median([r["peak_mb"] for r in arm["warm"]]),
            "runs": {"cold": arm["cold"], "warm": arm["warm"]},
            "negatives": arm["negatives"],
        }
        for name, arm in arms.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=SHARED / "scifact")
    parser.add_argument("--arms", nargs="+", default=["sentence-transformers", "trueneg", "trueneg-int8"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trueneg-bench-"))
    try:
        arms = run_arms(args.arms, args.data, args.runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reference = arms["trueneg"]["negatives"] if "trueneg" in arms else None
    base = arms.get("sentence-transformers")
    rows = []
    for name, arm in arms.items():
        arm["overlap_with_trueneg_fp32"] = _overlap(reference, arm["negatives"]) if reference else None
        arm["negatives_selected"] = sum(len(v) for v in arm["negatives"].values())
        if base:
            arm["cold_speedup_vs_st"] = round(base["cold_seconds"] / arm["cold_seconds"], 3)
            arm["warm_speedup_vs_st"] = round(base["warm_seconds"] / arm["warm_seconds"], 3)
        rows.append(
            f"| {name} | {arm['cold_seconds']} | {arm.get('cold_speedup_vs_st', '')} | {arm['warm_seconds']} | "
            f"{arm.get('warm_speedup_vs_st', '')} | {arm['cold_peak_mb']:.0f} | {arm['warm_peak_mb']:.0f} | "
            f"{arm['negatives_selected']} | {arm['overlap_with_trueneg_fp32']} |"
        )
    for arm in arms.values():
        del arm["negatives"]
    table = (
        f"SciFact train, all-MiniLM-L6-v2, 10 negatives, PercPos 0.95 / relative_margin 0.05, exact search; "
        f"median of {args.runs} runs, each a fresh process.\n\n"
        "| arm | cold s | cold speedup vs ST | warm s | warm speedup vs ST | cold peak MB | warm peak MB | "
        "negatives | share of trueneg fp32 negatives |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    save("mine_speed", {"settings": {"runs": args.runs, "data": str(args.data)}, "arms": arms}, table)
    print(table)


if __name__ == "__main__":
    main()
