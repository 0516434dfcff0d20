"""Pool the (collection, seed) runs of several ``bench/quality.py`` sparse-label results into one paired table.

A quality run of three collections and several seeds takes hours here, so it is run in parts (by
collection, by seed); this reads the parts' JSON, refuses parts whose training settings or arms
differ (pairs must be comparable), keeps each (collection, seed) once, and writes the mean paired
Δ nDCG@10 of each trueneg arm against each sentence-transformers arm with its 95% t-interval over
all pairs, plus every pair's Δ.

Run: ``python bench/paired.py quality_keep1 quality_keep1_cacm_npl --name quality_keep1_paired``
"""

from __future__ import annotations

import argparse
import json

from _common import RESULTS, save
from quality import paired_lines

SAME = ("model", "protocol", "steps", "batch_size", "learning_rate", "negatives_per_pair", "max_seq_length",
        "train_layers")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", help="result names under bench/results (without .json)")
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    parts = [json.loads((RESULTS / f"{p}.json").read_text(encoding="utf-8")) for p in args.parts]
    first = parts[0]["settings"]
    for name, part in zip(args.parts, parts):
        differ = [k for k in SAME if part["settings"].get(k) != first.get(k)]
        if differ:
            raise SystemExit(f"{name}.json: settings {', '.join(differ)} differ from {args.parts[0]}.json")
    records = {(r["collection"], r["seed"]): r for part in parts for r in part["records"]}
    runs = [records[k] for k in sorted(records)]
    arms = list(dict.fromkeys(a for r in runs for a in r["arms"]))
    table = paired_lines(runs, arms)
    if not table:
        raise SystemExit("no (collection, seed) pair has both a sentence-transformers arm and a trueneg arm")
    st_arms = [a for a in arms if a.startswith("st-margin")]
    ours = [a for a in arms if a.startswith("trueneg")]
    lines = [f"Parts: {', '.join(args.parts)}. Settings: " + ", ".join(f"{k} {first.get(k)}" for k in SAME), *table,
             "", "| collection | seed | " + " | ".join(f"{a} − {s}" for a in ours for s in st_arms) + " |",
             "|---|---|" + "---|" * (len(ours) * len(st_arms))]  # fmt: skip
    for r in runs:
        cells = [f"{100 * (r['arms'][a]['ndcg@10'] - r['arms'][s]['ndcg@10']):+.2f}" if a in r["arms"] and
                 s in r["arms"] else "–" for a in ours for s in st_arms]  # fmt: skip
        lines.append(f"| {r['collection']} | {r['seed']} | " + " | ".join(cells) + " |")
    save(args.name, {"parts": args.parts, "settings": first, "records": runs}, "\n".join(lines))


if __name__ == "__main__":
    main()
