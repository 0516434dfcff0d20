"""The sparse-label protocol and the multi-signal false-negative detector (trueneg.pu)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from trueneg.candidates.pool import judged_sets, positive_pairs, retrieve_candidates
from trueneg.cli import app
from trueneg.data import RetrievalData, load_beir, sparse_labels
from trueneg.mining import mine_negatives
from trueneg.pu import SIGNALS, Evidence, FalseNegativeDetector, estimate_false_negatives, population
from trueneg.pu.synthetic import planted_missing_positives

from .conftest import SHARED, HashEncoder, scifact_slice

CISI = SHARED / "classic" / "cisi"
runner = CliRunner()


def _ap(score: np.ndarray, truth: np.ndarray) -> float:
    hits = truth[np.argsort(-score, kind="stable")]
    return float((np.cumsum(hits) / np.arange(1, len(hits) + 1))[hits].mean())


def _unlabeled_truth(data: RetrievalData, pool, hidden) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labeled, _, pop = population(pool)
    rows, cols = np.nonzero(pop & ~labeled)
    truth = np.array([(pool.query_ids[r], data.doc_ids[pool.candidates[r, c]]) in hidden for r, c in zip(rows, cols)])
    return rows, cols, truth


# -- the sparse-label protocol ---------------------------------------------------------------------


def _dense_data(n_queries: int = 10, relevant: int = 8) -> RetrievalData:
    docs = [f"d{i}" for i in range(n_queries * relevant + 5)]
    qrels = {f"q{q}": {docs[q * relevant + i]: 1 for i in range(relevant)} for q in range(n_queries)}
    qrels["q0"][docs[-1]] = 0  # a judged negative stays a judged negative
    return RetrievalData(docs, [f"text {d}" for d in docs], list(qrels), [f"query {q}" for q in qrels], qrels)


def test_sparse_labels_keeps_a_share_and_hides_the_rest() -> None:
    data = _dense_data()
    split = sparse_labels(data, keep=0.25, test_fraction=0.2, seed=3)
    assert len(split.train.qrels) == 8 and len(split.test.qrels) == 2
    assert set(split.train.qrels).isdisjoint(split.test.qrels)
    for q, docs in split.train.qrels.items():
        kept = {d for d, g in docs.items() if g > 0}
        assert len(kept) == 2 and len(split.hidden[q]) == 6
        assert kept | split.hidden[q] == {d for d, g in data.qrels[q].items() if g > 0}
    for q, docs in split.test.qrels.items():
        assert docs == data.qrels[q]
    if "q0" in split.train.qrels:
        assert split.train.qrels["q0"]["d84"] == 0
    again = sparse_labels(data, keep=0.25, test_fraction=0.2, seed=3)
    assert again.train.qrels == split.train.qrels and again.hidden == split.hidden
    other = sparse_labels(data, keep=0.25, test_fraction=0.2, seed=4)
    assert other.hidden != split.hidden
    one = sparse_labels(data, keep=1, test_fraction=0.0, seed=0)
    assert all(sum(g > 0 for g in docs.values()) == 1 for docs in one.train.qrels.values())
    assert one.to_dict()["hidden_positives"] == 10 * 7


@pytest.mark.parametrize("keep", [0, 1.0, -0.5, 1.5, "a", True])
def test_sparse_labels_rejects_bad_keep(keep) -> None:
    with pytest.raises(ValueError, match="keep must be"):
        sparse_labels(_dense_data(), keep=keep)


def test_sparse_labels_writes_a_beir_folder(tmp_path: Path) -> None:
    split = sparse_labels(_dense_data(), keep=2, test_fraction=0.3, seed=0)
    folder = split.write(tmp_path / "sparse")
    train, test, hidden = (load_beir(folder, s) for s in ("train", "test", "hidden"))
    assert train.qrels == split.train.qrels and test.qrels == split.test.qrels
    assert {q: set(d) for q, d in hidden.qrels.items()} == {q: d for q, d in split.hidden.items() if d}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# -- signals ---------------------------------------------------------------------------------------


def test_label_free_signals_do_not_change_when_a_pair_is_labeled() -> None:
    """Flip one pool pair from unlabeled to labeled: every signal that does not read labels is unchanged."""
    data, pool, hidden = planted_missing_positives(n_queries=6, seed=1)
    q, d = sorted(hidden)[0]
    relabeled = replace(data, qrels={**data.qrels, q: {**data.qrels[q], d: 1}})
    positives, negatives = judged_sets(relabeled, pool.query_ids)
    pos_q, pos_d = positive_pairs(positives)
    scores = np.einsum("ij,ij->i", pool.query_vectors[pos_q], pool.doc_vectors[pos_d]).astype(np.float32)
    pool2 = replace(pool, positives=positives, judged_negatives=negatives, positive_query=pos_q,
                    positive_doc=pos_d, positive_scores=scores)  # fmt: skip
    label_free = ("score", "gap_to_top", "rank", "lexical", "lexical_rank", "cross_query", "cross_query_count",
                  "hubness", "csls", "query_rank")  # fmt: skip
    a = Evidence.from_pool(data, pool).features(pool, label_free)
    b = Evidence.from_pool(relabeled, pool2).features(pool2, label_free)
    assert np.allclose(a, b, equal_nan=True)


def test_hub_signals_match_brute_force_and_the_scale_path(tmp_path: Path) -> None:
    """hubness / csls / query_rank by hand from every query's cosine, and the same from .npy embedding files."""
    from trueneg.candidates import EmbeddingMatrix

    data, pool, _ = planted_missing_positives(n_queries=30, seed=3)
    X = Evidence.from_pool(data, pool).features(pool, ("hubness", "csls", "query_rank"))
    valid = pool.candidates >= 0
    sims = pool.doc_vectors @ pool.query_vectors.T  # (docs, queries)
    for q, k in list(zip(*np.nonzero(valid)))[:200:7]:
        d = pool.candidates[q, k]
        top = np.sort(sims[d])[::-1]
        cosine = float(pool.query_vectors[q] @ pool.doc_vectors[d])
        assert X[q, k, 0] == pytest.approx(top[:10].mean(), abs=1e-5)
        assert X[q, k, 1] == pytest.approx(2 * cosine - top[:10].mean(), abs=1e-5)
        assert X[q, k, 2] == pytest.approx(1 / (1 + min((top[:50] > cosine + 1e-6).sum(), 50)), abs=1e-6)
    assert np.isnan(X[~valid]).all()
    np.save(tmp_path / "docs.npy", pool.doc_vectors)
    np.save(tmp_path / "queries.npy", pool.query_vectors)
    on_disk = Evidence(data, EmbeddingMatrix.from_npy(tmp_path / "docs.npy"), list(pool.query_ids),
                       EmbeddingMatrix.from_npy(tmp_path / "queries.npy"))  # fmt: skip
    assert np.allclose(on_disk.features(pool, ("hubness", "csls", "query_rank")), X, equal_nan=True, atol=1e-5)


def test_hub_signals_are_the_same_for_labeled_and_hidden_positives() -> None:
    """No label enters them: with positives labeled at random, labeled and hidden positives look alike."""
    data, pool, hidden = planted_missing_positives(n_queries=60, seed=4)
    labeled, _, _ = population(pool)
    rows, cols, truth = _unlabeled_truth(data, pool, hidden)
    X = Evidence.from_pool(data, pool).features(pool, ("csls", "query_rank"))
    for j in range(2):
        on_labeled, on_hidden = X[:, :, j][labeled], X[rows[truth], cols[truth], j]
        assert abs(np.median(on_labeled) - np.median(on_hidden)) < 0.05 * max(abs(np.median(on_hidden)), 1.0)


def test_leave_one_out_signals_leave_out_the_pair_itself() -> None:
    data, pool, _ = planted_missing_positives(n_queries=6, seed=2)
    X = Evidence.from_pool(data, pool).features(pool, ("positive_max", "positive_mean"))
    labeled, _, _ = population(pool)
    # a labeled positive compared with itself would score 1.0; leave-one-out never does
    assert np.nanmax(X[labeled][:, 0]) < 0.999
    # every pair of a query sees n - 1 of its n labeled positives: with one positive, none
    one = replace(pool, positives=np.where(np.arange(pool.positives.shape[1]) == 0, pool.positives, -1))
    one = replace(one, positive_query=np.arange(len(pool.query_ids)), positive_doc=one.positives[:, 0],
                  positive_scores=pool.positive_scores[np.searchsorted(pool.positive_query, np.arange(6))])  # fmt: skip
    X1 = Evidence.from_pool(data, one).features(one, ("positive_max",))
    assert np.isnan(X1).all()


def test_leave_one_out_signals_have_the_same_distribution_for_labeled_and_hidden_positives() -> None:
    """Positives are labeled at random, so a leave-one-out signal must look the same on labeled and hidden
    positives; the naive version (compared with all labeled positives) would not."""
    data, pool, hidden = planted_missing_positives(n_queries=60, seed=4)
    labeled, _, pop = population(pool)
    X = Evidence.from_pool(data, pool).features(pool, ("positive_max",))[:, :, 0]
    rows, cols, truth = _unlabeled_truth(data, pool, hidden)
    on_labeled, on_hidden = X[labeled], X[rows[truth], cols[truth]]
    assert abs(np.median(on_labeled) - np.median(on_hidden)) < 0.03
    # the distractors sit far lower: the signal still separates
    assert np.median(X[rows[~truth], cols[~truth]]) < np.median(on_hidden) - 0.1


def test_signals_unavailable_without_vectors_are_refused() -> None:
    data, pool, _ = planted_missing_positives(n_queries=4)
    evidence = Evidence(data, lexical=False)
    assert evidence.available() == ("score", "gap_to_top", "rank", "score_z", "query_density", "positive_gap")
    with pytest.raises(ValueError, match="need data this evidence lacks"):
        evidence.features(pool, ("positive_max",))


# -- the detector ----------------------------------------------------------------------------------


def test_detector_ranks_planted_missing_positives_far_above_chance_and_the_score_model() -> None:
    data, pool, hidden = planted_missing_positives(seed=0)
    rows, cols, truth = _unlabeled_truth(data, pool, hidden)
    multi = estimate_false_negatives(pool, data, n_bootstrap=20)
    score = estimate_false_negatives(pool, data, detector="score", n_bootstrap=20)
    ap_multi, ap_score = _ap(multi.probability[rows, cols], truth), _ap(score.probability[rows, cols], truth)
    assert ap_multi > 0.8 and ap_multi > 3 * truth.mean() and ap_multi > 2 * ap_score
    # half of every query's relevant documents are labeled: label frequency near 0.5
    assert 0.3 < multi.label_frequency < 0.7
    details = multi.details
    assert details["signals"][0] == "score" and set(details["signal_importance"]) == set(details["signals"])
    assert max(details["signal_importance"], key=details["signal_importance"].get).startswith(("positive", "lexical"))
    est, low, high = multi.rate(~multi.labeled & (pool.candidates >= 0))
    assert low <= est <= high


def test_detector_is_deterministic_and_fits_then_predicts_other_pools() -> None:
    data, pool, _ = planted_missing_positives(seed=5)
    a = estimate_false_negatives(pool, data, n_bootstrap=20, seed=1)
    b = estimate_false_negatives(pool, data, n_bootstrap=20, seed=1)
    assert np.array_equal(a.probability, b.probability, equal_nan=True)
    evidence = Evidence.from_pool(data, pool)
    half = len(pool.query_ids) // 2
    model = FalseNegativeDetector(n_bootstrap=20).fit(_rows(pool, slice(0, half)), evidence)
    other = model.predict(_rows(pool, slice(half, None)), evidence)
    assert other.probability.shape == (len(pool.query_ids) - half, pool.candidates.shape[1])
    assert other.details["signals"] == list(model.signals_)


def _rows(pool, rows: slice):
    """The pool restricted to some queries."""
    positives = pool.positives[rows]
    pos_q, pos_d = positive_pairs(positives)
    keep = np.isin(pool.positive_query, np.arange(len(pool.query_ids))[rows])
    return replace(pool, query_ids=pool.query_ids[rows], query_texts=pool.query_texts[rows],
                   candidates=pool.candidates[rows], scores=pool.scores[rows], positives=positives,
                   judged_negatives=pool.judged_negatives[rows], positive_query=pos_q, positive_doc=pos_d,
                   positive_scores=pool.positive_scores[keep], query_vectors=pool.query_vectors[rows])  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detector": "magic"}, "detector must be one of multi, score"),
        ({"classifier": "svm"}, "classifier must be one of auto, boosting, logistic"),
        ({"estimator": "em"}, "estimator must be one of roc, tice, elkan-noto, km2"),
        ({"signals": ("score", "colour")}, "signals must be a non-empty subset"),
        ({"folds": 1}, "folds must be at least 2"),
    ],
)
def test_detector_rejects_bad_parameters(kwargs, message) -> None:
    data, pool, _ = planted_missing_positives(n_queries=4)
    with pytest.raises(ValueError, match=message):
        FalseNegativeDetector(**kwargs).fit(pool, Evidence.from_pool(data, pool))
    with pytest.raises(ValueError, match="not fitted"):
        FalseNegativeDetector().predict(pool, Evidence.from_pool(data, pool))


def test_max_fn_rate_with_the_detector_emits_fewer_hidden_positives_than_naive() -> None:
    data, pool, hidden = planted_missing_positives(seed=3)
    kw = dict(num_negatives=10, pool=pool, range_max=30, show_progress=False)

    def contamination(result) -> float:
        pairs = [(q, d) for q, docs in result.negative_ids().items() for d in docs]
        return sum(p in hidden for p in pairs) / len(pairs)

    naive = mine_negatives(data, perc_pos=None, near_duplicate=None, **kw)
    strict = mine_negatives(data, max_fn_rate=0.02, **kw)
    assert contamination(naive) > 0.03 and contamination(strict) < 0.5 * contamination(naive)
    assert strict.summary["false_negatives"]["detector"]["detector"] == "multi"


# -- real data: a slice of CISI (dense judgments) ---------------------------------------------------


@pytest.mark.skipif(not CISI.is_dir(), reason="../shared/data/classic/cisi not present")
def test_detector_on_cisi_slice_beats_chance_and_the_score_model(tmp_path: Path) -> None:
    full = load_beir(CISI, "test")
    keep_queries = list(full.qrels)[:25]
    full = replace(full, qrels={q: full.qrels[q] for q in keep_queries})
    split = sparse_labels(full, keep=0.25, test_fraction=0.0, seed=0)
    pool = retrieve_candidates(split.train, HashEncoder(dim=256), depth=60, show_progress=False)
    hidden = {(q, d) for q, docs in split.hidden.items() for d in docs}
    rows, cols, truth = _unlabeled_truth(split.train, pool, hidden)
    multi = estimate_false_negatives(pool, split.train, n_bootstrap=20)
    score = estimate_false_negatives(pool, split.train, detector="score", n_bootstrap=20)
    ap_multi, ap_score = _ap(multi.probability[rows, cols], truth), _ap(score.probability[rows, cols], truth)
    assert truth.sum() > 50
    assert ap_multi > 1.5 * truth.mean() and ap_multi > ap_score


@pytest.mark.skipif(not CISI.is_dir(), reason="../shared/data/classic/cisi not present")
def test_audit_cli_reports_detector_and_lists_every_pair(tmp_path: Path, monkeypatch) -> None:
    full = load_beir(CISI, "test")
    small = replace(full, qrels={q: full.qrels[q] for q in list(full.qrels)[:8]})
    folder = sparse_labels(small, keep=0.25, test_fraction=0.0, seed=0).write(tmp_path / "cisi")
    monkeypatch.setattr("trueneg.candidates.pool.encoder_for", lambda *a, **k: HashEncoder())
    out = tmp_path / "audit"
    result = runner.invoke(app, ["audit", str(folder), "--split", "train", "-o", str(out), "--depth", "30",
                                 "--suspects", "100000", "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "audit.json").read_text())
    assert {"estimated_fn_rate", "ci_low", "ci_high", "suspects", "detector"} <= set(report)
    assert report["ci_low"] <= report["estimated_fn_rate"] <= report["ci_high"]
    assert set(report["detector"]["signals"]) <= set(SIGNALS)
    suspects = report["suspects"]
    assert len(suspects) >= 8 * 30 and {"query_id", "doc_id", "probability"} <= set(suspects[0])
    assert [s["probability"] for s in suspects] == sorted((s["probability"] for s in suspects), reverse=True)


@pytest.mark.parametrize("fmt", ["flagembedding", "triplet", "n-tuple", "labeled-list"])
def test_relabel_writes_inferred_positives_in_every_format(fmt: str) -> None:
    data, pool, hidden = planted_missing_positives(seed=6)
    kw = dict(num_negatives=4, pool=pool, range_max=30, show_progress=False, perc_pos=None, near_duplicate=None)
    result = mine_negatives(data, fn_action="relabel", relabel_probability=0.5, max_inferred=3, **kw)
    inferred = result.inferred_ids()
    pairs = [(q, d) for q, docs in inferred.items() for d in docs]
    assert pairs and np.mean([p in hidden for p in pairs]) > 0.8  # the planted missing positives
    assert result.summary["fn_action"]["relabeled"] == len(pairs) and all(len(v) <= 3 for v in inferred.values())
    negatives = result.negative_ids()
    assert not any(d in negatives[q] for q, d in pairs)  # an inferred positive is never a negative
    labeled = {q: set(docs) for q, docs in data.qrels.items()}
    assert not any(d in labeled[q] for q, docs in negatives.items() for d in docs)
    rows = result.to_rows(fmt, extra_columns=True)
    text_of = dict(zip(data.doc_ids, data.doc_texts))
    if fmt == "flagembedding":
        assert all(len(r["pos_inferred"]) == len(r["pos"]) == len(r["pos_scores"]) for r in rows)
        written = {(r["query"], p) for r in rows for p, f in zip(r["pos"], r["pos_inferred"]) if f}
        assert all(not f for r in rows for f in r["pos_inferred"][: len(labeled[_qid(data, r["query"])])])
    else:
        written = {(r["anchor"], r["positive"] if fmt != "labeled-list" else r["docs"][0]) for r in rows
                   if r["positive_inferred"]}  # fmt: skip
    query_text = dict(zip(data.query_ids, data.query_texts))
    expected = {
        (query_text[q], text_of[d])
        for q, d in pairs
        if q in {_qid(data, r.get("query", r.get("anchor"))) for r in rows}
    }
    assert written == expected
    plain = mine_negatives(data, **kw).to_rows(fmt)
    assert all("pos_inferred" not in r and "positive_inferred" not in r for r in plain)  # default rows unchanged


def _qid(data: RetrievalData, text: str) -> str:
    return data.query_ids[data.query_texts.index(text)]


def test_drop_query_leaves_out_queries_with_many_suspects() -> None:
    data, pool, _ = planted_missing_positives(seed=7)
    kw = dict(num_negatives=4, pool=pool, range_max=30, show_progress=False)
    result = mine_negatives(data, fn_action="drop-query", drop_query_count=2, relabel_probability=0.5, **kw)
    dropped = result.summary["fn_action"]["queries_dropped"]
    assert 0 < dropped <= len(pool.query_ids)
    assert len(result.to_rows("flagembedding")) <= len(pool.query_ids) - dropped
    with pytest.raises(ValueError, match="fn_action must be one of drop, relabel, drop-query"):
        mine_negatives(data, fn_action="keep", **kw)


@pytest.mark.parametrize("fmt", ["flagembedding", "triplet", "n-tuple", "labeled-list"])
def test_inferred_positives_and_negative_probabilities_read_back_for_training(fmt: str) -> None:
    from trueneg.training import load_examples

    data, pool, _ = planted_missing_positives(seed=6)
    kw = dict(num_negatives=4, pool=pool, range_max=30, show_progress=False, perc_pos=None, near_duplicate=None)
    result = mine_negatives(data, fn_action="relabel", relabel_probability=0.5, max_inferred=3, **kw)
    rows = result.to_rows(fmt, extra_columns=True)
    examples = load_examples(rows)
    assert examples.inferred is not None and examples.weights is not None
    assert examples.negative_probabilities is not None
    probability = {
        (q, result.doc_texts[d]): float(p)
        for q, ds, ps in zip(result.query_texts, result.inferred, result.inferred_probabilities)
        for d, p in zip(ds, ps)
    }
    for anchor, positive, flag, weight in zip(examples.anchors, examples.positives, examples.inferred,
                                              examples.weights):  # fmt: skip
        if flag:
            assert weight == pytest.approx(probability[(anchor, positive)], abs=1e-6) and 0.5 <= weight <= 1
        else:
            assert weight == 1.0
    assert any(examples.inferred) and not all(examples.inferred)
    for negs, probs in zip(examples.negatives, examples.negative_probabilities):
        assert len(negs) == len(probs) and all(0.0 <= p <= 1.0 for p in probs)
    # the probability written for a negative is the detector's, below the relabel threshold
    assert max(p for probs in examples.negative_probabilities for p in probs) < 0.5
    plain = mine_negatives(data, **kw).to_rows(fmt)
    assert all("neg_probability" not in r and "negative_probabilities" not in r for r in plain)


# -- a second model as evidence --------------------------------------------------------------------


class _Broken:
    """An encoder that fails on its first call."""

    def encode(self, texts: list[str], kind: str) -> np.ndarray:
        raise RuntimeError("no weights")


def test_teacher_signals_are_label_free_and_reach_the_audit(tmp_path: Path) -> None:
    """The teacher's scores become teacher_* signals: unchanged when a pair is labeled, used by `audit`."""
    from trueneg.audit import audit
    from trueneg.mining.teacher import pool_scorer

    data, pool, hidden = planted_missing_positives(n_queries=12, seed=6)
    teacher = HashEncoder(seed=9)
    scorer = pool_scorer(teacher, data, show_progress=False)
    signals = ("teacher_score", "teacher_rank", "teacher_z", "rank_mean")
    X = Evidence.from_pool(data, pool, teacher=scorer).features(pool, signals)
    q, k = 2, 3
    d = pool.candidates[q, k]
    expected = (
        teacher.encode([data.query_texts[data.query_index(pool.query_ids[q])]], "query")[0]
        @ teacher.encode([data.doc_texts[d]], "document")[0]
    )
    assert X[q, k, 0] == pytest.approx(float(expected), abs=1e-5)
    assert np.nanmax(X[:, :, 1]) == 1.0 and np.isnan(X[pool.candidates < 0]).all()
    doc = sorted(hidden)[0]
    relabeled = replace(data, qrels={**data.qrels, doc[0]: {**data.qrels[doc[0]], doc[1]: 1}})
    X2 = Evidence.from_pool(relabeled, pool, teacher=pool_scorer(teacher, relabeled, show_progress=False)).features(
        pool, signals
    )
    assert np.allclose(X, X2, equal_nan=True)
    result = audit(data, HashEncoder(), teacher=teacher, depth=30, show_progress=False)
    assert result.summary["teacher"] is not None
    assert set(signals) <= set(result.summary["detector"]["signals"])
    with pytest.raises(ValueError, match="teacher .*: cannot score a"):
        audit(data, HashEncoder(), teacher=_Broken(), depth=30, show_progress=False)
    missing = runner.invoke(
        app, ["audit", str(tmp_path / "none"), "-o", str(tmp_path / "a"), "--teacher", str(tmp_path / "nope")]
    )
    assert missing.exit_code == 2 and "no such model folder" in " ".join(missing.output.split())
    assert not (tmp_path / "a").exists()


def _teacher_reading_past_its_positions(folder: Path) -> Path:
    """A real (random, tiny) BERT bi-encoder whose sentence_bert_config promises 512 tokens; it has 64 positions."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from trueneg.candidates.encoders import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(None))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    kinds = ("Transformer", "Pooling")
    modules = [{"idx": i, "name": str(i), "path": ("", "1_Pooling")[i], "type": f"sentence_transformers.models.{k}"}
               for i, k in enumerate(kinds)]  # fmt: skip
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512}))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 16, "pooling_mode_mean_tokens": True})
    )
    return folder


def test_teacher_with_a_tokenizer_limit_past_its_model_fails_before_any_work(tmp_path: Path, hash_encoder) -> None:
    """A teacher that scores a short pair but not a long one is refused before retrieval, naming the limit."""
    data = load_beir(scifact_slice(tmp_path / "sf", n_queries=10, extra_docs=20), split="train")
    teacher = str(_teacher_reading_past_its_positions(tmp_path / "teacher"))
    with pytest.raises(ValueError, match=r"cannot score the data's longest query and document .*tokenizer limit"):
        mine_negatives(data, hash_encoder, teacher=teacher, cache_dir=False, show_progress=False)
    assert hash_encoder.calls == 0  # nothing retrieved
    short = replace(data, doc_texts=[t[:100] for t in data.doc_texts])  # within 64 tokens: the same teacher serves
    assert mine_negatives(short, hash_encoder, teacher=teacher, cache_dir=False, num_negatives=2,
                          show_progress=False).summary["teacher"] == teacher  # fmt: skip


def test_audit_warns_when_every_query_has_one_positive() -> None:
    from trueneg.audit import audit
    from trueneg.audit.report import render_html

    one, _, _ = planted_missing_positives(n_queries=10, labeled=1, seed=7)
    two, _, _ = planted_missing_positives(n_queries=10, labeled=2, seed=7)
    warned = audit(one, HashEncoder(), depth=30, show_progress=False)
    assert any("exactly one labeled positive" in w and "--verify" in w for w in warned.summary["warnings"])
    assert "exactly one labeled positive" in render_html(warned)
    assert audit(two, HashEncoder(), depth=30, show_progress=False).summary["warnings"] == []
