"""Mining a large corpus in bounded memory: wall time, peak RSS, index recall, agreement with exact mining.

    python bench/scale.py [--sizes 100000,1000000,5000000] [--queries 100000] [--runs 3] [--st 100000,1000000]
                          [--ray 100000]

Data: :func:`trueneg.data.synthetic.make_clustered_retrieval` (384-d, Zipf-sized topics, one planted
positive per query), generated once per size under ``--work`` (default ``$TMPDIR/trueneg-scale``).
No real corpus of this size is available offline here (SciFact has 5k abstracts, and encoding 1M
passages with MiniLM on 2 cores would take ~8 hours), so the vectors are generated.

Every arm is a fresh process (``python -m trueneg.cli mine ... --json``), timed from start to exit
(loading the BEIR folder, validating the embeddings, building and tuning the index, mining, writing
the rows), with its peak RSS. Same job everywhere: 10 negatives, top sampling, rank window [0, 100),
TopK-PercPos 0.95 (sentence-transformers' relative_margin 0.05), no near-duplicate filter (the
generated texts are ids). Arms per size:

- ``trueneg auto``: ``--index auto --max-memory 4GiB`` (what a user gets), ``--runs`` times (once
  above 1M documents);
- ``trueneg ivf``: ``--index ivf`` where auto chose otherwise (same index type across sizes, for the
  scaling ratio);
- ``trueneg exact (sample)``: exact search over the first ``--sample`` queries (a ``sample`` qrels
  split), the reference for the share of negatives identical to exact mining;
- ``sentence-transformers``: ``mine_hard_negatives(use_faiss=True)`` on the same embeddings
  (through its cache folder), at the sizes in ``--st``;
- ``trueneg ray``: ``--engine ray`` on the local machine at the sizes in ``--ray``; its output file
  is compared byte for byte with the local run's.

An arm that runs past ``ARM_TIMEOUT`` (30 minutes) or fails marks its size "not finished" in the
table instead of ending the benchmark; ``--update`` re-runs some sizes and keeps the others.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _common import RESULTS, ROOT, median, save, timed

from trueneg.data.synthetic import make_clustered_retrieval

TRUENEG = [sys.executable, "-m", "trueneg.cli", "mine"]
JOB = ["--no-near-duplicate", "-n", "10", "--json", "-q"]
ARM_TIMEOUT = 1800  # seconds; an arm that runs longer is recorded as not finished instead of ending the benchmark


def generate(folder: Path, n_docs: int, n_queries: int, sample: int) -> None:
    marker = folder / "done.json"
    if marker.is_file() and json.loads(marker.read_text()) == [n_docs, n_queries, sample]:
        return
    data, _, _ = make_clustered_retrieval(folder, n_docs, n_queries, seed=0)
    with open(folder / "qrels" / "sample.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in data.query_ids[:sample]:
            f.writelines(f"{q}\t{d}\t{g}\n" for d, g in data.qrels[q].items())
    marker.write_text(json.dumps([n_docs, n_queries, sample]))


def run_trueneg(folder: Path, out: Path, *options: str, split: str = "train") -> dict:
    cmd = ["timeout", str(ARM_TIMEOUT), *TRUENEG, str(folder), "-o", str(out), "--split", split, *JOB]
    cmd += ["--corpus-embeddings", str(folder / "corpus.npy"), "--query-embeddings", str(folder / "queries.npy")]
    result = timed([*cmd, *options], env={"TRUENEG_CACHE": str(out.parent / "cache")})
    summary = json.loads(result.pop("stdout"))
    return {**result, "summary": summary}


def negatives(path: Path) -> dict[str, list[str]]:
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    with path.open(encoding="utf-8") as f:
        return {row["query"]: row["neg"] for row in map(json.loads, f)}


def identical_share(reference: dict[str, list[str]], other: dict[str, list[str]]) -> float:
    """Share of the reference's negatives that ``other`` also emits for the same query."""
    total = sum(len(v) for v in reference.values())
    return round(sum(len(set(v) & set(other.get(q, []))) for q, v in reference.items()) / max(total, 1), 4)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def measure(folder: Path, out: Path, n_docs: int, args: argparse.Namespace, st_sizes: set, ray_sizes: set) -> dict:
    """Every arm at one corpus size (see the module docstring)."""
    exact = run_trueneg(folder, out / "exact.jsonl", "--index", "exact", split="sample")
    reference = negatives(out / "exact.jsonl")
    row: dict = {"docs": n_docs, "queries": args.queries, "arms": {}}
    n_runs = args.runs if n_docs <= 1_000_000 else 1
    auto = ("--index", "auto", "--max-memory", "4GiB")
    runs = [run_trueneg(folder, out / "auto.jsonl", *auto) for _ in range(n_runs)]
    arms = {"trueneg auto": (runs, out / "auto.jsonl")}
    if runs[0]["summary"]["index"]["type"] == "exact":
        ivf = [run_trueneg(folder, out / "ivf.jsonl", "--index", "ivf") for _ in range(n_runs)]
        arms["trueneg ivf"] = (ivf, out / "ivf.jsonl")
    if n_docs in ray_sizes:
        ray = [run_trueneg(folder, out / "ray.jsonl", "--index", "auto", "--engine", "ray")]
        arms["trueneg ray (local)"] = (ray, out / "ray.jsonl")
        row["ray_rows_identical_to_local"] = digest(out / "ray.jsonl") == digest(out / "auto.jsonl")
    if n_docs in st_sizes:
        st_out = out / "st.json"
        cmd = [sys.executable, str(ROOT / "bench" / "_st_scale.py"), str(folder), str(st_out), str(out / "st")]
        st = timed(cmd)
        st.pop("stdout")
        arms["sentence-transformers (faiss flat)"] = ([st], st_out)
    arms["trueneg exact (sample)"] = ([exact], out / "exact.jsonl")
    for name, (arm_runs, path) in arms.items():
        first = arm_runs[0].get("summary", {})
        index = first.get("index", {})
        row["arms"][name] = {
            "runs": len(arm_runs),
            "seconds": median([r["seconds"] for r in arm_runs]),
            "seconds_all": [round(r["seconds"], 1) for r in arm_runs],
            "peak_mb": median([r["peak_mb"] for r in arm_runs]),
            "index": index.get("type"),
            "probe": index.get("probe"),
            "index_build_seconds": index.get("build_seconds"),
            "recall@10": index.get("recall@10"),
            "recall@depth": next((v for k, v in index.items() if k.startswith("recall@") and k != "recall@10"), None),
            "chunks": first.get("chunks"),
            "identical_to_exact": identical_share(reference, negatives(path)),
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2000, help="queries mined exactly as the reference")
    parser.add_argument("--runs", type=int, default=3, help="runs per arm up to 1M documents (1 above)")
    parser.add_argument("--st", default="100000,1000000", help="sizes with the sentence-transformers arm")
    parser.add_argument("--ray", default="100000", help="sizes with the Ray arm")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "trueneg-scale"))
    parser.add_argument(
        "--update", action="store_true", help="replace only the sizes run now in bench/results/scale.json"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    st_sizes = {int(s) for s in args.st.split(",") if s}
    ray_sizes = {int(s) for s in args.ray.split(",") if s}
    work = Path(args.work)
    results = []
    for n_docs in sizes:
        folder = work / f"docs{n_docs}-q{args.queries}"
        generate(folder, n_docs, args.queries, args.sample)
        out = Path(tempfile.mkdtemp(prefix="scale-out-", dir=work))
        try:
            results.append(measure(folder, out, n_docs, args, st_sizes, ray_sizes))
        except RuntimeError as exc:  # an arm failed or hit ARM_TIMEOUT: say so in the table
            results.append({"docs": n_docs, "queries": args.queries, "arms": {}, "error": str(exc)})
        finally:
            shutil.rmtree(out, ignore_errors=True)
        print(json.dumps(results[-1], indent=1), flush=True)
    commands = []
    if args.update and (RESULTS / "scale.json").is_file():
        previous = json.loads((RESULTS / "scale.json").read_text())
        commands = previous.get("earlier_commands", []) + [f"{previous['command']} ({previous['date']})"]
        kept = [row for row in previous["results"] if row["docs"] not in sizes]
        results = sorted(kept + results, key=lambda row: row["docs"])
    ratios = scaling(results)
    payload = {"results": results, "time_ratios": ratios, "sample": args.sample, "earlier_commands": commands}
    table = render(results, ratios, args.sample)
    if commands:
        table += "\n\nRows of other sizes come from earlier runs: " + "; ".join(f"`{c}`" for c in commands)
    save("scale", payload, table)


def scaling(results: list[dict]) -> dict[str, float]:
    """Wall-time ratio between consecutive sizes for each index type run at both (auto or forced)."""
    times = {}
    for row in results:
        for name, arm in row["arms"].items():
            if name in ("trueneg auto", "trueneg ivf") and arm["index"]:
                times.setdefault(arm["index"], {})[row["docs"]] = arm["seconds"]
    ratios = {}
    for kind, by_size in times.items():
        sizes = sorted(by_size)
        for small, large in zip(sizes, sizes[1:]):
            ratios[f"{kind}: {small:,} -> {large:,} documents ({large / small:g}x)"] = round(
                by_size[large] / by_size[small], 2
            )
    return ratios


def render(results: list[dict], ratios: dict[str, float], sample: int) -> str:
    lines = [
        "| docs | queries | arm | index (probe) | wall s, median (runs) | peak RSS MB | recall@10 vs exact | "
        "recall@depth | negatives identical to exact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results:
        if "error" in row:
            lines.append(f"| {row['docs']:,} | {row['queries']:,} | not finished | | | | | | |")
        for name, a in row["arms"].items():
            index = f"{a['index']} ({a['probe']})" if a["index"] else "flat"
            recall = "—" if a["recall@10"] is None else f"{a['recall@10']:.3f}"
            depth = "—" if a["recall@depth"] is None else f"{a['recall@depth']:.3f}"
            queries = sample if "sample" in name else row["queries"]
            lines.append(
                f"| {row['docs']:,} | {queries:,} | {name} | {index} | {a['seconds']:.1f} "
                f"({', '.join(map(str, a['seconds_all']))}) | {a['peak_mb']:.0f} | {recall} | {depth} | "
                f"{a['identical_to_exact']:.3f} |"
            )
    notes = ["", "Wall-time ratio between sizes, same index type: " + (
        "; ".join(f"{k}: {v}x" for k, v in ratios.items()) or "none")]  # fmt: skip
    for row in results:
        if "error" in row:
            notes.append(f"{row['docs']:,} documents not finished: {row['error'][-300:]}")
        if "ray_rows_identical_to_local" in row:
            same = row["ray_rows_identical_to_local"]
            notes.append(
                f"Ray (local) output byte-identical to the single-process output at {row['docs']:,} documents: {same}"
            )
    return "\n".join(lines) + "\n" + "\n".join(notes)


if __name__ == "__main__":
    main()
