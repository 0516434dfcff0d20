"""Retrieval quality of models fine-tuned on differently mined negatives: SciFact, and sparse labels.

python bench/quality.py [--seeds 0 1 2] [--steps 24] [--arms ...]                     # SciFact train -> test
python bench/quality.py --collections cisi cacm npl --steps 30 --batch-size 8         # sparse labels
python bench/quality.py --collections cisi cacm npl --keep 1 --steps 30 --batch-size 8 --name quality_keep1 \
    --sparse-arms st-margin st-margin-teacher trueneg-drop trueneg-teacher --teacher FOLDER  # one positive per query

One positive per query (``--keep 1``, issue 25): the same protocol keeping one labeled positive per
train query; ``--teacher`` (all-mpnet-base-v2 from ``make models``) adds sentence-transformers' miner
run with the second model as its model (``st-margin-teacher``) and trueneg with the second model as
evidence and rescoring (``trueneg-teacher``). The table ends with the mean paired Δ nDCG@10 of each
trueneg arm against each sentence-transformers arm, with its 95% interval over (collection, seed).

Sparse-label mode (``--collections``; results/quality_sparse.md): each classic collection (dense
judgments) is split by ``trueneg.sparse_labels(keep=0.25, test_fraction=0.5, seed)``: half the
queries train with 25% of their relevant documents labeled, the other half are test queries with
*all* their judgments (nDCG@10 and Recall@100 over the full corpus, exact search). Per seed every
arm trains the offline MiniLM from the same start on the same labeled pairs, 3 negatives per pair,
30 steps of 8 (the no-duplicates sampler cannot fill larger batches from CACM's ~26 train queries),
lr 1e-4, top 2 of 6 layers, 128 tokens; a pair with fewer than 3 negatives from its miner is topped
up with random corpus documents (never a labeled positive of the query), the same way in every arm.
Arms: base; in-batch (no mined negative); naive-top3 (the 3 top-ranked unlabeled); st-margin
(sentence-transformers ``mine_hard_negatives(relative_margin=0.05, num_negatives=3)``);
trueneg-drop (``max_fn_rate=0.05`` in a window of 30); trueneg-relabel (the same +
``fn_action="relabel"``: the suspects become extra positive pairs); trueneg-relabel-soft (those
pairs weighted by their probability); trueneg+fn-masked (relabel-soft + ``guide="probability"``);
trueneg+debiased (relabel-soft + the debiased loss at ``debias_temperature=0.5``, class prior =
the estimated rate of the emitted negatives); trueneg-cascade (relabel-soft where a suspect must
also pass ``BiEncoderJudge(MiniLM, margin=0.05)``, the strongest judge available offline).
Optional: trueneg+distill, trueneg+debiased-published (``debias_temperature=None``).

Findings (2026-11-25, 3 seeds, results/quality_sparse.md): mean nDCG@10 over CISI/CACM/NPL: base
0.406, in-batch 0.427, naive-top3 0.418, st-margin 0.436, trueneg-drop 0.439, relabel 0.434,
cascade 0.442 (best, +0.66 over st-margin; the issue's target was +2.0); relabel is 0.56 below
drop. All mined arms lie within one standard deviation of each other (0.004-0.066 over seeds).
sentence-transformers' margin finds negatives for only 3-12 of the 26-47 train queries here (its
relative margin is measured against each labeled positive, and sparse labels leave many labeled
positives scoring below unlabeled relevant documents), so that arm trains mostly on the random
top-up; easy negatives do about as well as clean hard ones at this scale. The losses barely differ
from relabel-soft: the emitted negatives' probabilities average at most the 0.05 target (the soft mask
removes little) and the debiased correction at temperature 0.5 is a few percent.

Every arm fine-tunes the offline all-MiniLM-L6-v2 with `trueneg.training.train` on the same
(query, positive) pairs of qrels/train.tsv (920 pairs), the same seed, batch size, steps and
learning rate; only the negatives (one per pair) and the loss differ. Arms:

- base: no training;
- in-batch: in-batch negatives only (MNRL, no mined negative);
- naive-top1: the top-ranked non-positive (trueneg mine with every false-negative filter off);
- st-margin: sentence-transformers `mine_hard_negatives(relative_margin=0.05)`;
- trueneg: `trueneg mine --max-fn-rate 0.01` with MNRL;
- trueneg-r100 (not in the default run; added after it): the same with `--range-max 100` instead of
  the default window of 10 candidates, where 219 of 809 queries found no negative;
- trueneg+fn-masked / trueneg+debiased / trueneg+distill: the same negatives with each
  false-negative-aware loss (debiased: class prior = the audit's estimated false-negative rate;
  distill: soft labels = the mining model's scores, the only teacher available offline).

A pair whose miner found no negative gets a random one drawn from that miner's negatives, so all
arms train on identical pairs.

What makes it fit 60 minutes on a 2-core CPU: sequences truncated to 128 tokens (the length
all-MiniLM-L6-v2 was trained with) and only the top TRAIN_LAYERS of the 6 transformer layers
fine-tuned. The frozen lower layers are identical in every model, so their output for every
test-corpus document is computed once and each model's corpus embeddings only run its top
layers; the bench checks on sample documents that this equals `SentenceTransformer.encode`.
Mining uses the model's default 256 tokens, as a user would.

Findings (2026-11-22, results/quality.md and results/quality_deep.md): every trained arm beats
the base model (0.624 at 128 tokens); naive top-1, sentence-transformers and trueneg negatives
are within one standard deviation of each other (0.654-0.657), so the +1.0 target over the
sentence-transformers arm is not met. Why: the audit estimates 2.9% false negatives among the
top-10 unlabeled candidates of SciFact train, so with one negative per pair filtering them
changes little; trueneg's default window of 10 candidates leaves 219 of 809 queries without a
negative under max-fn-rate 0.01 (they get random ones); a window of 100 (trueneg-r100) gives
every query one and the same nDCG@10 (0.655 +- 0.004). The debiased loss at scale 20 (temperature 0.05) clamps:
tau_plus * e^{s_pos} exceeds the mean e^{s_neg} for 72% of the queries of a base-model batch at
tau_plus = 0.029 (44% at 0.01), and those stop learning (Chuang et al. used temperature 0.5).
Distillation only has the mining model's own scores as soft labels (no stronger teacher offline),
so it pulls the student back to the base model.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import ROOT, SHARED, machine, save  # noqa: E402

from trueneg.audit import audit  # noqa: E402
from trueneg.candidates.dense import dense_search  # noqa: E402
from trueneg.candidates.encoders import resolve_model  # noqa: E402
from trueneg.data import load_beir  # noqa: E402
from trueneg.evaluation import evaluate, evaluate_run  # noqa: E402
from trueneg.mining import mine_negatives  # noqa: E402
from trueneg.training import TrainingExamples, train  # noqa: E402

SCIFACT = SHARED / "scifact"
MAX_SEQ = 128
TRAIN_LAYERS = 2
ARMS = (
    "in-batch",
    "naive-top1",
    "st-margin",
    "trueneg",
    "trueneg+fn-masked",
    "trueneg+debiased",
    "trueneg+distill",
)
EXTRA_ARMS = ("trueneg-r100",)


class _PassThrough(torch.nn.Module):
    """Stands in for the embedding layer: the input already is a hidden state."""

    def forward(self, inputs_embeds: torch.Tensor, **_: object) -> torch.Tensor:
        return inputs_embeds


class TopLayerEncoder:
    """Document embeddings of fine-tuned models that share frozen lower layers, without recomputing them."""

    def __init__(self, texts: list[str], batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        self.base = SentenceTransformer(resolve_model(None), device="cpu")
        self.base.max_seq_length = MAX_SEQ
        tokenizer = self.base.tokenizer
        backbone = self.base[0].auto_model
        self.cut = len(backbone.encoder.layer) - TRAIN_LAYERS
        enc = tokenizer(texts, truncation=True, max_length=MAX_SEQ)
        self.lengths = np.array([len(ids) for ids in enc["input_ids"]])
        self.order = np.argsort(-self.lengths, kind="stable")
        self.batches = [self.order[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        self.hidden: list[torch.Tensor] = []
        self.masks: list[torch.Tensor] = []
        base_vectors = []
        with torch.inference_mode():
            for batch in self.batches:
                feats = tokenizer.pad({"input_ids": [enc["input_ids"][i] for i in batch]}, return_tensors="pt")
                out = backbone(**feats, output_hidden_states=True)
                self.hidden.append(out.hidden_states[self.cut].clone())
                self.masks.append(feats["attention_mask"])
                base_vectors.append(self._pool(out.last_hidden_state, feats["attention_mask"]))
        self.base_vectors = self._unsort(base_vectors)

    @staticmethod
    def _pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[..., None].to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)

    def _unsort(self, parts: list[torch.Tensor]) -> np.ndarray:
        out = np.empty((len(self.order), parts[0].shape[1]), dtype=np.float32)
        out[self.order] = torch.cat(parts).numpy()
        return out

    def encode(self, model) -> np.ndarray:
        """Corpus embeddings of ``model``, whose lower layers must equal the base model's."""
        backbone = model[0].auto_model
        base_backbone = self.base[0].auto_model
        trained = tuple(f"encoder.layer.{i}." for i in range(self.cut, len(backbone.encoder.layer)))
        for (name, p), q in zip(backbone.named_parameters(), base_backbone.parameters()):
            assert name.startswith(trained) or torch.equal(p, q), f"{name} changed: lower layers must be frozen"
        top = copy.deepcopy(backbone)
        top.embeddings = _PassThrough()
        top.encoder.layer = top.encoder.layer[self.cut :]
        vectors = []
        with torch.inference_mode():
            for hidden, mask in zip(self.hidden, self.masks):
                out = top(inputs_embeds=hidden, attention_mask=mask)
                vectors.append(self._pool(out.last_hidden_state, mask))
        return self._unsort(vectors)


def run_metrics(test, doc_vectors: np.ndarray, query_vectors: np.ndarray, query_ids: list[str]) -> dict:
    scores, top = dense_search(query_vectors, doc_vectors, 100)
    run = {q: {test.doc_ids[d]: float(s) for d, s in zip(top[i], scores[i])} for i, q in enumerate(query_ids)}
    result = evaluate_run({q: test.qrels[q] for q in query_ids}, run)
    return {**result.metrics, "judged_only": result.judged_only}


def mined_negatives(train_data, cache: Path) -> tuple[dict[str, dict[str, list[str]]], dict]:
    """Negatives (query text -> negative texts) of every miner, plus mining facts."""
    out: dict[str, dict[str, list[str]]] = {}
    facts: dict = {}
    for name, options in {
        "naive-top1": {"perc_pos": None, "near_duplicate": None},
        "trueneg": {"max_fn_rate": 0.01},
        "trueneg-r100": {"max_fn_rate": 0.01, "range_max": 100},
    }.items():
        started = time.perf_counter()
        result = mine_negatives(train_data, None, num_negatives=1, seed=0, show_progress=False, **options)
        out[name] = {
            q: [result.doc_texts[d] for d in row if d >= 0] for q, row in zip(result.query_texts, result.negatives)
        }
        keep = result.negatives >= 0
        out[name + ":scores"] = {
            q: (
                {result.doc_texts[d]: float(s) for d, s in zip(result.positives[i], result.positive_scores[i])},
                result.negative_scores[i][keep[i]].tolist(),
            )
            for i, q in enumerate(result.query_texts)
        }
        facts[name] = {
            "seconds": round(time.perf_counter() - started, 1),
            "negatives": result.summary["negatives_emitted"],
        }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "st.json"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "_st_mine.py"),
                str(SCIFACT),
                "train",
                str(target),
                str(cache),
                "1",
                "0.05",
            ],
            check=True,
        )
        out["st-margin"] = json.loads(target.read_text())
    facts["st-margin"] = {
        "seconds": round(time.perf_counter() - started, 1),
        "negatives": sum(map(len, out["st-margin"].values())),
    }
    return out, facts


def examples_for(train_data, negatives: dict[str, list[str]], scores=None) -> TrainingExamples:
    """One example per train (query, positive) pair with the miner's negatives for that query."""
    anchors, positives, negs, soft = [], [], [], []
    for q, docs in train_data.qrels.items():
        query = train_data.query_texts[train_data.query_index(q)]
        for d in sorted(d for d, grade in docs.items() if grade > 0):
            anchors.append(query)
            positives.append(train_data.doc_texts[train_data.doc_index(d)])
            negs.append(list(negatives.get(query, [])))
            if scores is not None:
                pos_scores, neg_scores = scores[query]
                soft.append([pos_scores.get(positives[-1], max(pos_scores.values())), *neg_scores])
    return TrainingExamples(anchors, positives, negs, soft if scores is not None else None, "scifact/train")


# --- sparse labels on densely judged collections (issue 16) -------------------------------------

SPARSE_ARMS = (
    "in-batch",
    "naive-top3",
    "st-margin",
    "trueneg-drop",
    "trueneg-relabel",
    "trueneg-relabel-soft",
    "trueneg+fn-masked",
    "trueneg+debiased",
    "trueneg-cascade",
)
SPARSE_EXTRA = ("trueneg+distill", "trueneg+debiased-published", "st-margin-teacher", "trueneg-teacher")
SPARSE_NEGATIVES = 3
SPARSE_WINDOW = 30


def _examples_from(result, data, name: str, with_inferred: bool = True) -> TrainingExamples:
    """Every labeled train pair with the miner's negatives (and, with relabel, the inferred pairs)."""
    negs = {q: [result.doc_texts[d] for d in row if d >= 0] for q, row in zip(result.query_ids, result.negatives)}
    probs = None
    if result.negative_probabilities is not None:
        probs = {
            q: [float(p) for p, d in zip(prow, row) if d >= 0]
            for q, row, prow in zip(result.query_ids, result.negatives, result.negative_probabilities)
        }
    scores = {
        q: [float(s) for s, d in zip(srow, row) if d >= 0]
        for q, row, srow in zip(result.query_ids, result.negatives, result.negative_scores)
    }
    pos_score = {
        (q, int(d)): float(s)
        for q, ds, ss in zip(result.query_ids, result.positives, result.positive_scores)
        for d, s in zip(ds, ss)
    }
    out = TrainingExamples([], [], [], [], name, [], [], [] if probs is not None else None)
    inferred = result.inferred_ids() if with_inferred else {}
    inferred_prob = {}
    if with_inferred and result.inferred is not None:
        for q, ds, ps in zip(result.query_ids, result.inferred, result.inferred_probabilities):
            inferred_prob.update({(q, result.doc_ids[d]): float(p) for d, p in zip(ds, ps)})
    for q, docs in data.qrels.items():
        query = data.query_texts[data.query_index(q)]
        pairs = [(d, False) for d in sorted(d for d, g in docs.items() if g > 0)]
        pairs += [(d, True) for d in inferred.get(q, [])]
        for d, flag in pairs:
            i = data.doc_index(d)
            out.anchors.append(query)
            out.positives.append(data.doc_texts[i])
            out.negatives.append(list(negs.get(q, [])))
            out.scores.append([pos_score.get((q, i), max(scores.get(q, [0.0]) or [0.0])), *scores.get(q, [])])
            out.inferred.append(flag)
            out.weights.append(inferred_prob[(q, d)] if flag else 1.0)
            if probs is not None:
                out.negative_probabilities.append(list(probs.get(q, [])))
    return out


def _st_examples(st_pairs: list[tuple[str, str]], data, name: str) -> TrainingExamples:
    by_query: dict[str, list[str]] = {}
    for q, d in sorted(st_pairs):
        by_query.setdefault(q, []).append(d)
    out = TrainingExamples([], [], [], None, name)
    for q, docs in data.qrels.items():
        query = data.query_texts[data.query_index(q)]
        for d in sorted(d for d, g in docs.items() if g > 0):
            out.anchors.append(query)
            out.positives.append(data.doc_texts[data.doc_index(d)])
            out.negatives.append(by_query.get(query, [])[:SPARSE_NEGATIVES])
    return out


def _top_up(examples: TrainingExamples, data, seed: int) -> TrainingExamples:
    """Fill every example to SPARSE_NEGATIVES negatives with random corpus documents (seeded), the same way in
    every arm, so that a miner that finds few negatives (sentence-transformers' margin on sparse labels) still
    trains on as many pairs and negatives as the others; never one of the query's labeled positives."""
    rng = np.random.default_rng(seed)
    labeled = {
        data.query_texts[data.query_index(q)]: {data.doc_texts[data.doc_index(d)] for d, g in docs.items() if g > 0}
        for q, docs in data.qrels.items()
    }
    out = copy.deepcopy(examples)
    for i, (query, negs) in enumerate(zip(out.anchors, out.negatives)):
        added = 0
        while len(negs) < SPARSE_NEGATIVES:
            text = data.doc_texts[int(rng.integers(len(data.doc_texts)))]
            if text not in negs and text not in labeled.get(query, ()) and text != out.positives[i]:
                negs.append(text)
                added += 1
        if out.negative_probabilities is not None:
            out.negative_probabilities[i] = out.negative_probabilities[i] + [0.0] * added
        if out.scores is not None:
            out.scores[i] = out.scores[i] + [min(out.scores[i])] * added
    return out


def _precision(split, pairs: list[tuple[str, str]]) -> float:
    if not pairs:
        return float("nan")
    return float(split.is_hidden([q for q, _ in pairs], [d for _, d in pairs]).mean())


def sparse_arms(name: str, split, st_model, cache: Path, seed: int, wanted, teacher=None) -> tuple[dict, dict]:
    """Training examples of the ``wanted`` arms on ``split.train`` (only their mining runs), and facts about it.

    ``teacher`` (a second model folder, ``--teacher``): the arms ``st-margin-teacher`` (sentence-transformers'
    miner run with the second model as its model) and ``trueneg-teacher`` (``max_fn_rate=0.05`` with the second
    model's scores as detector evidence and as rescoring, as ``trueneg mine --teacher`` runs it).
    """
    from _common import st_negatives

    from trueneg.candidates.pool import retrieve_candidates
    from trueneg.mining.judges import BiEncoderJudge, ProbabilityJudge
    from trueneg.mining.teacher import pool_scorer
    from trueneg.pu import Evidence, FalseNegativeDetector, estimate_false_negatives, population

    data = split.train
    pool = retrieve_candidates(data, depth=100, cache_dir=cache, show_progress=False)
    estimate = estimate_false_negatives(pool, data, seed=seed)
    common = dict(pool=pool, range_max=SPARSE_WINDOW, num_negatives=SPARSE_NEGATIVES, show_progress=False, seed=seed)
    need = set(wanted)

    def run(**options):
        return mine_negatives(data, **{**common, **options})

    drop = run(max_fn_rate=0.05, fn_estimate=estimate)
    naive = run(perc_pos=None, near_duplicate=None, range_max=SPARSE_NEGATIVES)
    relabel = cascade = None
    if need & {"trueneg-relabel", "trueneg-relabel-soft", "trueneg+fn-masked", "trueneg+debiased",
               "trueneg+debiased-published", "trueneg+distill"}:  # fmt: skip
        relabel = run(max_fn_rate=0.05, fn_estimate=estimate, fn_action="relabel")
    if "trueneg-cascade" in need:
        cascade = run(max_fn_rate=0.05, fn_estimate=estimate, fn_action="relabel",
                      judges=[ProbabilityJudge(0.5), BiEncoderJudge(st_model, margin=0.05)])  # fmt: skip
    st = st_negatives(st_model, data, str(cache / f"st-sparse-{name}-{seed}"), SPARSE_NEGATIVES)
    st_teacher = with_teacher = None
    if teacher is not None:
        from sentence_transformers import SentenceTransformer

        # one cache folder per collection (the corpus is the same for every seed; one_positive_mining.py writes it too)
        st_teacher = st_negatives(SentenceTransformer(teacher, device="cpu"), data, str(cache / f"st-model-{name}"),
                                  SPARSE_NEGATIVES)  # fmt: skip
        scorer = pool_scorer(teacher, data, cache_dir=cache, show_progress=False)
        evidence = Evidence.from_pool(data, pool, teacher=scorer)
        teacher_estimate = estimate_false_negatives(pool, data, detector=FalseNegativeDetector(seed=seed),
                                                    evidence=evidence)  # fmt: skip
        with_teacher = run(max_fn_rate=0.05, fn_estimate=teacher_estimate, teacher=teacher,
                           cache_dir=cache)  # fmt: skip

    def contamination(result) -> float:
        return _precision(split, [(q, d) for q, docs in result.negative_ids().items() for d in docs])

    st_ids = {data.query_texts[data.query_index(q)]: q for q in data.qrels}
    doc_ids = {t: d for d, t in zip(data.doc_ids, data.doc_texts)}
    facts = {
        "train_pairs": sum(1 for docs in data.qrels.values() for g in docs.values() if g > 0),
        "contamination": {
            "naive-top3": contamination(naive),
            "st-margin": _precision(split, [(st_ids[q], doc_ids[d]) for q, d in st]),
            "trueneg-drop": contamination(drop),
        },
        "inferred": {},
        "label_frequency": estimate.label_frequency,
    }
    if relabel is not None:
        relabeled = [(q, d) for q, docs in relabel.inferred_ids().items() for d in docs]
        facts["contamination"]["trueneg-relabel"] = contamination(relabel)
        facts["inferred"].update(relabel=len(relabeled), relabel_precision=_precision(split, relabeled))
    if cascade is not None:  # precision of what the cascade flags vs the detector's own top suspects at the same count
        flagged = [(q, d) for q, docs in cascade.inferred_ids().items() for d in docs]
        labeled, _, pop = population(pool)
        rows, cols = np.nonzero(pop & ~labeled & (pool.candidates >= 0))
        top = estimate.order(rows, cols)[: len(flagged)]
        detector_top = [(pool.query_ids[rows[k]], data.doc_ids[pool.candidates[rows[k], cols[k]]]) for k in top]
        facts["inferred"].update(cascade=len(flagged), cascade_precision=_precision(split, flagged),
                                 detector_same_count_precision=_precision(split, detector_top))  # fmt: skip
    if teacher is not None:
        facts["contamination"]["st-margin-teacher"] = _precision(
            split, [(st_ids[q], doc_ids[d]) for q, d in st_teacher]
        )
        facts["contamination"]["trueneg-teacher"] = contamination(with_teacher)
    drop_ex = _examples_from(drop, data, f"{name}/drop")
    relabel_ex = None if relabel is None else _examples_from(relabel, data, f"{name}/relabel")
    arms = {
        "in-batch": (drop_ex, {"loss": "mnrl", "num_negatives": 0}),
        "naive-top3": (_examples_from(naive, data, f"{name}/naive"), {"loss": "mnrl"}),
        "st-margin": (_st_examples(st, data, f"{name}/st"), {"loss": "mnrl"}),
        "trueneg-drop": (drop_ex, {"loss": "mnrl"}),
        "trueneg-relabel": (relabel_ex, {"loss": "mnrl"}),
        "trueneg-relabel-soft": (relabel_ex, {"loss": "mnrl", "inferred": "soft"}),
        "trueneg+fn-masked": (relabel_ex, {"loss": "fn-masked", "guide": "probability", "inferred": "soft"}),
        "trueneg+debiased": (relabel_ex, {"loss": "debiased", "inferred": "soft"}),
        "trueneg+debiased-published": (
            relabel_ex,
            {"loss": "debiased", "inferred": "soft", "debias_temperature": None},
        ),  # fmt: skip
        "trueneg+distill": (relabel_ex, {"loss": "distill", "inferred": "soft"}),
    }
    if cascade is not None:
        arms["trueneg-cascade"] = (
            _examples_from(cascade, data, f"{name}/cascade"),
            {"loss": "mnrl", "inferred": "soft"},
        )
    if teacher is not None:
        arms["st-margin-teacher"] = (_st_examples(st_teacher, data, f"{name}/st-teacher"), {"loss": "mnrl"})
        arms["trueneg-teacher"] = (_examples_from(with_teacher, data, f"{name}/teacher"), {"loss": "mnrl"})
    if relabel is not None:
        prior = float(relabel.summary["false_negatives"]["estimated_fn_rate"])
        for _, options in arms.values():
            if options["loss"] == "debiased":
                options["class_prior"] = prior
        facts["debiased_class_prior"] = prior
    return {arm: arms[arm] for arm in wanted}, facts


def main_sparse(args) -> None:
    """Train on sparse labels of CISI/CACM/NPL, evaluate on their fully judged test queries."""
    from sentence_transformers import SentenceTransformer

    from trueneg.candidates import default_cache_dir
    from trueneg.data import sparse_labels

    started = time.perf_counter()
    cache = default_cache_dir()
    st_model = SentenceTransformer(resolve_model(None), device="cpu")
    records: list[dict] = []
    for name in args.collections:
        full = load_beir(SHARED / "classic" / name, "test")
        encoder = TopLayerEncoder(full.doc_texts)
        for seed in args.seeds:
            split = sparse_labels(full, keep=args.keep, test_fraction=0.5, seed=seed)
            test = split.test
            query_ids = [q for q in test.qrels if any(g > 0 for g in test.qrels[q].values())]
            query_texts = [test.query_texts[test.query_index(q)] for q in query_ids]
            t = time.perf_counter()
            arms, facts = sparse_arms(name, split, st_model, cache, seed, args.sparse_arms, args.teacher)
            facts["mining_seconds"] = round(time.perf_counter() - t, 1)
            base_q = encoder.base.encode(query_texts, normalize_embeddings=True, convert_to_numpy=True)
            record = {"collection": name, "seed": seed, "test_queries": len(query_ids), **facts, "arms": {}}
            record["arms"]["base"] = run_metrics(test, encoder.base_vectors, base_q, query_ids)
            print(name, seed, "base", round(record["arms"]["base"]["ndcg@10"], 4), json.dumps(facts), flush=True)
            for arm in args.sparse_arms:
                examples, options = arms[arm]
                examples = _top_up(examples, split.train, seed)
                t = time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:
                    result = train(
                        examples, None, output_dir=Path(tmp) / "model",
                        batch_size=args.batch_size, max_steps=args.steps, learning_rate=args.lr,
                        max_seq_length=MAX_SEQ, train_layers=TRAIN_LAYERS, checkpoint_steps=None, seed=seed,
                        device="cpu", show_progress=False, **{"num_negatives": SPARSE_NEGATIVES, **options},
                    )  # fmt: skip
                    model = SentenceTransformer(result.model_path, device="cpu")
                model.max_seq_length = MAX_SEQ
                doc_vectors = encoder.encode(model)
                q_vectors = model.encode(query_texts, normalize_embeddings=True, convert_to_numpy=True)
                metrics = run_metrics(test, doc_vectors, q_vectors, query_ids)
                metrics.update(train_seconds=result.seconds, final_loss=result.final_loss, examples=result.examples)
                record["arms"][arm] = metrics
                print(f"{name} {seed} {arm:28s} ndcg@10 {metrics['ndcg@10']:.4f} "
                      f"({time.perf_counter() - t:.0f} s)", flush=True)  # fmt: skip
            records.append(record)
            _write_sparse(args, records, started)


def _write_sparse(args, records: list[dict], started: float) -> None:
    arms = ["base", *args.sparse_arms]
    per: dict[str, dict[str, dict[str, float]]] = {}
    lines = [
        "| arm | " + " | ".join(f"{c} nDCG@10" for c in args.collections) + " | mean nDCG@10 | mean Recall@100 | "
        "Δ nDCG@10 vs st-margin (points) |",
        "|---|" + "---|" * (len(args.collections) + 3),
    ]
    for arm in arms:
        per[arm] = {}
        for c in args.collections:
            runs = [r["arms"][arm] for r in records if r["collection"] == c and arm in r["arms"]]
            if runs:
                per[arm][c] = {k: round(statistics.mean(r[k] for r in runs), 4) for k in ("ndcg@10", "recall@100")} | {
                    "ndcg@10_std": round(statistics.stdev([r["ndcg@10"] for r in runs]), 4) if len(runs) > 1 else 0
                }
    done = [c for c in args.collections if all(c in per[a] for a in arms)]
    for arm in arms:
        if not done:
            break
        mean_n = statistics.mean(per[arm][c]["ndcg@10"] for c in done)
        mean_r = statistics.mean(per[arm][c]["recall@100"] for c in done)
        st = statistics.mean(per["st-margin"][c]["ndcg@10"] for c in done) if "st-margin" in per else None
        cells = " | ".join(
            f"{per[arm][c]['ndcg@10']:.4f} ± {per[arm][c]['ndcg@10_std']:.4f}" if c in per[arm] else "–"
            for c in args.collections
        )
        delta = f"{100 * (mean_n - st):+.2f}" if st is not None else "–"
        lines.append(f"| {arm} | {cells} | {mean_n:.4f} | {mean_r:.4f} | {delta} |")
    kinds = list(dict.fromkeys(k for r in records for k in r["contamination"]))
    facts = ["", "| collection | seed | train pairs | contamination " + " / ".join(kinds)
             + " | relabeled (precision) |", "|---|---|---|---|---|"]  # fmt: skip
    for r in records:
        c, i = r["contamination"], r["inferred"]
        relabeled = f"{i['relabel']} ({i['relabel_precision']:.3f})" if "relabel" in i else "–"
        facts.append(f"| {r['collection']} | {r['seed']} | {r['train_pairs']} | "
                     + " / ".join(f"{c[k]:.3f}" if k in c else "–" for k in kinds) + f" | {relabeled} |")  # fmt: skip
    facts += paired_lines(records, arms)
    payload = {
        "command": "python bench/quality.py " + " ".join(sys.argv[1:]),
        "settings": {
            "model": "all-MiniLM-L6-v2 (offline copy)",
            "protocol": f"sparse_labels(keep={args.keep}, test_fraction=0.5, seed=seed); train on the train "
            "queries' kept positives, evaluate on the test queries with all judgments, full corpus, exact search",
            "seeds": args.seeds,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "negatives_per_pair": SPARSE_NEGATIVES,
            "trueneg_window": SPARSE_WINDOW,
            "max_seq_length": MAX_SEQ,
            "train_layers": f"top {TRAIN_LAYERS} of 6",
        },
        "per_collection": per,
        "records": records,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
    }
    save(args.name, payload, "\n".join(lines + facts))


def paired_lines(records: list[dict], arms: list[str]) -> list[str]:
    """Mean paired Δ nDCG@10 (points) of each trueneg arm against each sentence-transformers arm and against the
    better of them (higher mean over every run), with 95% t-intervals over the (collection, seed) pairs."""
    from _common import interval

    st_arms = [a for a in arms if a.startswith("st-margin")]
    ours = [a for a in arms if a.startswith("trueneg")]
    done = [r for r in records if all(a in r["arms"] for a in st_arms + ours)]
    if not st_arms or not ours or not done:
        return []
    better = max(st_arms, key=lambda a: statistics.mean(r["arms"][a]["ndcg@10"] for r in done))
    lines = ["", f"Paired Δ nDCG@10 in points over {len(done)} (collection, seed) pairs, mean [95% interval]; the "
             f"better sentence-transformers run by mean nDCG@10 is {better}.", "",
             "| arm | " + " | ".join(f"Δ vs {a}" for a in st_arms) + " |", "|---|" + "---|" * len(st_arms)]  # fmt: skip
    for arm in ours:
        cells = []
        for st in st_arms:
            mean, low, high = interval([100 * (r["arms"][arm]["ndcg@10"] - r["arms"][st]["ndcg@10"]) for r in done])
            cells.append(f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]" + (" (better)" if st == better else ""))
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS + EXTRA_ARMS)
    parser.add_argument("--name", default="quality")
    parser.add_argument("--collections", nargs="+", choices=("cisi", "cacm", "npl"),
                        help="sparse-label mode: train on these classic collections instead of SciFact")  # fmt: skip
    parser.add_argument(
        "--keep",
        type=lambda v: float(v) if "." in v else int(v),
        default=0.25,
        help="sparse-label mode: share of labels kept (0.25), or a count per query (1)",
    )
    parser.add_argument("--sparse-arms", nargs="+", default=list(SPARSE_ARMS), choices=SPARSE_ARMS + SPARSE_EXTRA)
    parser.add_argument("--teacher", help="sparse-label mode: a second model folder for the *-teacher arms")
    args = parser.parse_args()
    if any(a.endswith("-teacher") for a in args.sparse_arms) and not args.teacher:
        parser.error("the *-teacher arms need --teacher FOLDER (make models installs all-mpnet-base-v2)")
    torch.set_num_threads(os.cpu_count() or 1)
    if args.collections:
        if args.name == "quality":
            args.name = "quality_sparse"
        return main_sparse(args)
    started = time.perf_counter()
    train_data, test = load_beir(SCIFACT, "train"), load_beir(SCIFACT, "test")

    t = time.perf_counter()
    base_full = evaluate(test, None, show_progress=False)
    base_256 = {**base_full.metrics, "judged_only": base_full.judged_only}
    negatives, mining = mined_negatives(train_data, Path.home() / ".cache" / "trueneg" / "st-mine")
    audit_result = audit(train_data, None, show_progress=False)
    class_prior = float(audit_result.summary["estimated_fn_rate"])
    mining["audit"] = {"estimated_fn_rate": class_prior}
    mining_seconds = time.perf_counter() - t

    arm_examples = {
        "in-batch": (examples_for(train_data, negatives["trueneg"]), "mnrl", 0),
        "naive-top1": (examples_for(train_data, negatives["naive-top1"]), "mnrl", 1),
        "st-margin": (examples_for(train_data, negatives["st-margin"]), "mnrl", 1),
        "trueneg": (examples_for(train_data, negatives["trueneg"]), "mnrl", 1),
        "trueneg-r100": (examples_for(train_data, negatives["trueneg-r100"]), "mnrl", 1),
        "trueneg+fn-masked": (examples_for(train_data, negatives["trueneg"]), "fn-masked", 1),
        "trueneg+debiased": (examples_for(train_data, negatives["trueneg"]), "debiased", 1),
        "trueneg+distill": (
            examples_for(train_data, negatives["trueneg"], negatives["trueneg:scores"]),
            "distill",
            1,
        ),
    }
    t = time.perf_counter()
    query_ids = [q for q in test.qrels if any(g > 0 for g in test.qrels[q].values())]
    query_texts = [test.query_texts[test.query_index(q)] for q in query_ids]
    encoder = TopLayerEncoder(test.doc_texts)
    base_q = encoder.base.encode(query_texts, normalize_embeddings=True, convert_to_numpy=True)
    results: dict = {"base": {"runs": [run_metrics(test, encoder.base_vectors, base_q, query_ids)]}}
    prefix_seconds = time.perf_counter() - t
    sample = list(range(0, len(test.doc_texts), len(test.doc_texts) // 16))[:16]

    timings: dict[str, list[float]] = {}
    for seed in args.seeds:
        for arm in args.arms:
            examples, loss, n_neg = arm_examples[arm]
            t = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                result = train(
                    copy.deepcopy(examples),
                    None,
                    output_dir=Path(tmp) / "model",
                    loss=loss,
                    num_negatives=n_neg,
                    batch_size=args.batch_size,
                    max_steps=args.steps,
                    learning_rate=args.lr,
                    max_seq_length=MAX_SEQ,
                    train_layers=TRAIN_LAYERS,
                    class_prior=class_prior if loss == "debiased" else None,
                    checkpoint_steps=None,
                    seed=seed,
                    device="cpu",
                    show_progress=False,
                )
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(result.model_path, device="cpu")
            model.max_seq_length = MAX_SEQ
            doc_vectors = encoder.encode(model)
            check = model.encode([test.doc_texts[i] for i in sample], normalize_embeddings=True)
            deviation = float(np.abs(check - doc_vectors[sample]).max())
            assert deviation < 1e-4, f"top-layer encoding differs from encode() by {deviation}"
            q_vectors = model.encode(query_texts, normalize_embeddings=True, convert_to_numpy=True)
            metrics = run_metrics(test, doc_vectors, q_vectors, query_ids)
            metrics.update(seed=seed, train_seconds=result.seconds, final_loss=result.final_loss)
            results.setdefault(arm, {"runs": []})["runs"].append(metrics)
            timings.setdefault(arm, []).append(time.perf_counter() - t)
            print(
                f"seed {seed} {arm:20s} ndcg@10 {metrics['ndcg@10']:.4f} ({time.perf_counter() - t:.0f} s)", flush=True
            )

    for entry in results.values():
        for key in ("ndcg@10", "recall@100", "mrr@10"):
            values = [r[key] for r in entry["runs"]]
            entry[key] = {
                "mean": round(statistics.mean(values), 4),
                "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            }
        judged = [(r["judged_only"] or {}).get("ndcg@10", float("nan")) for r in entry["runs"]]
        entry["judged_only_ndcg@10"] = round(statistics.mean(judged), 4)
    st = results.get("st-margin", {}).get("ndcg@10", {}).get("mean")
    base = results["base"]["ndcg@10"]["mean"]
    trueneg_arms = [a for a in results if a.startswith("trueneg")]
    best = max(trueneg_arms, key=lambda a: results[a]["ndcg@10"]["mean"]) if trueneg_arms else None
    payload = {
        "command": "python bench/quality.py " + " ".join(sys.argv[1:]),
        "settings": {
            "model": "all-MiniLM-L6-v2 (offline copy)",
            "train_pairs": len(arm_examples["trueneg"][0]),
            "negatives_per_pair": 1,
            "seeds": args.seeds,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "warmup_ratio": 0.1,
            "max_seq_length": MAX_SEQ,
            "train_layers": f"top {TRAIN_LAYERS} of 6",
            "debiased_class_prior": class_prior,
            "eval": "SciFact test (300 queries), full corpus (5,183 abstracts), exact search",
        },
        "base_at_256_tokens": base_256,
        "mining": mining,
        "results": results,
        "best_trueneg_arm": best,
        "best_minus_st_ndcg@10_points": round(100 * (results[best]["ndcg@10"]["mean"] - st), 2)
        if best and st
        else None,
        "best_minus_base_ndcg@10_points": round(100 * (results[best]["ndcg@10"]["mean"] - base), 2) if best else None,
        "seconds": {
            "total": round(time.perf_counter() - started, 1),
            "mining_and_audit": round(mining_seconds, 1),
            "frozen_prefix": round(prefix_seconds, 1),
            "per_arm_median": {a: round(statistics.median(v), 1) for a, v in timings.items()},
        },
        "machine": machine(),
    }
    lines = [
        "| arm | nDCG@10 mean ± std | Recall@100 | MRR@10 | nDCG@10 judged only |",
        "|---|---|---|---|---|",
    ]
    for arm, entry in results.items():
        n, r, m = entry["ndcg@10"], entry["recall@100"], entry["mrr@10"]
        lines.append(
            f"| {arm} | {n['mean']:.4f} ± {n['std']:.4f} | {r['mean']:.4f} ± {r['std']:.4f} | "
            f"{m['mean']:.4f} ± {m['std']:.4f} | {entry['judged_only_ndcg@10']:.4f} |"
        )
    save(args.name, payload, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
