"""Build the bundled demo dataset: a small, attributed slice of BEIR SciFact.

    python scripts/make_demo.py ../shared/data/scifact trueneg/data/demo

Takes 150 training queries (seeded choice), their positive abstracts, and for each query the 3
highest-BM25 abstracts that are not positives, so that the demo has genuinely hard negatives.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from trueneg.candidates.sparse import BM25Index
from trueneg.data import load_beir

N_QUERIES = 150
DISTRACTORS = 3

ATTRIBUTION = """# trueneg demo data

A slice of **SciFact** (Wadden et al., 2020, "Fact or Fiction: Verifying Scientific Claims",
EMNLP) in the BEIR layout (Thakur et al., 2021), licensed CC BY-NC 2.0. It holds {n_q} training
claims from `qrels/train.tsv`, their {n_pos} cited abstracts, and for each claim the 3 most
BM25-similar other abstracts: {n_docs} abstracts in all. Built by `scripts/make_demo.py` from
the BEIR release in `../shared/data/scifact`.
"""


def main(source: str, target: str) -> None:
    data = load_beir(source, "train")
    rng = np.random.default_rng(0)
    query_ids = sorted(rng.choice(data.mined_query_ids(), N_QUERIES, replace=False).tolist(), key=int)
    positives = {d for q in query_ids for d in data.qrels[q]}
    index = BM25Index(data.doc_texts)
    _, top = index.search([data.query_texts[data.query_index(q)] for q in query_ids], DISTRACTORS + 10)
    keep = set(positives)
    for q, row in zip(query_ids, top):
        keep.update([data.doc_ids[i] for i in row if data.doc_ids[i] not in data.qrels[q]][:DISTRACTORS])
    out = Path(target)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    corpus = [json.loads(line) for line in Path(source, "corpus.jsonl").read_text().splitlines()]
    queries = [json.loads(line) for line in Path(source, "queries.jsonl").read_text().splitlines()]
    with (out / "corpus.jsonl").open("w") as f:
        for rec in corpus:
            if rec["_id"] in keep:
                f.write(json.dumps({"_id": rec["_id"], "title": rec["title"], "text": rec["text"]}) + "\n")
    with (out / "queries.jsonl").open("w") as f:
        for rec in queries:
            if rec["_id"] in query_ids:
                f.write(json.dumps({"_id": rec["_id"], "text": rec["text"]}) + "\n")
    with (out / "qrels" / "train.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in query_ids:
            for d, g in data.qrels[q].items():
                f.write(f"{q}\t{d}\t{g}\n")
    (out / "README.md").write_text(ATTRIBUTION.format(n_q=len(query_ids), n_pos=len(positives), n_docs=len(keep)))
    print(f"{len(query_ids)} queries, {len(keep)} documents -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
