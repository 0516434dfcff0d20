"""The scale path: embedding files, sharded encoding, indexes, chunked mining, streamed audit, Ray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from trueneg.audit import audit, audit_at_scale
from trueneg.candidates import EmbeddingCache, SentenceTransformerEncoder
from trueneg.candidates.embeddings import EmbeddingMatrix, encode_to_store, open_embeddings
from trueneg.candidates.index import build_index, choose_index, exact_search, parse_memory, recall_at, tune_index
from trueneg.cli import app
from trueneg.data import DataError, load_beir
from trueneg.data.synthetic import make_clustered_retrieval
from trueneg.mining import mine_negatives, mine_to_file
from trueneg.mining.sampling import sample_negatives

from .conftest import HashEncoder, scifact_slice

runner = CliRunner()


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory):
    return make_clustered_retrieval(tmp_path_factory.mktemp("synth"), 6000, 400, dim=48, seed=3)


# --- embedding files ------------------------------------------------------------------------------


def _save(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def test_npy_embeddings_validated_against_ids(tmp_path: Path) -> None:
    ids = ["a", "b", "c"]
    good = np.eye(3, 4, dtype=np.float32) * 2  # norm 2: normalized on read
    matrix = open_embeddings(_save(tmp_path / "ok.npy", good), ids)
    assert matrix.shape == (3, 4)
    assert np.allclose(matrix.read(0, 3), np.eye(3, 4))
    assert np.allclose(matrix.take(np.array([2, 0, 2])), np.eye(3, 4)[[2, 0, 2]])
    cases = {
        "rows.npy": (good[:2], r"rows.npy: 2 rows but the corpus has 3 ids"),
        "flat.npy": (good.ravel(), r"flat.npy: field embedding: expected a 2-D"),
        "ints.npy": (np.ones((3, 4), dtype=np.int64), r"ints.npy: field embedding: expected floats"),
        "nan.npy": (np.where(np.arange(12).reshape(3, 4) == 9, np.nan, good), r"nan.npy: row 2: field embedding: NaN"),
        "zero.npy": (good * (np.arange(3)[:, None] != 1), r"zero.npy: row 1: field embedding: all-zero"),
        "fortran.npy": (np.asfortranarray(good), r"fortran.npy: Fortran-ordered"),
    }
    for name, (array, message) in cases.items():
        with pytest.raises(DataError, match=message):
            open_embeddings(_save(tmp_path / name, array), ids)
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(DataError, match="text.npy: not a .npy file"):
        open_embeddings(tmp_path / "text.npy", ids)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        open_embeddings(tmp_path / "missing.npy", ids)


def _parquet(path: Path, ids: list, vectors: list, id_name: str = "id", vec_name: str = "embedding") -> Path:
    pq.write_table(pa.table({id_name: ids, vec_name: vectors}), path, row_group_size=2)
    return path


def test_parquet_embeddings_any_order_and_errors(tmp_path: Path) -> None:
    ids = ["a", "b", "c", "d"]
    vectors = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    order = [2, 0, 3, 1]
    path = _parquet(tmp_path / "e.parquet", [ids[i] for i in order], [vectors[i].tolist() for i in order], "doc_id")
    matrix = open_embeddings(path, ids, workdir=tmp_path / "work")
    expected = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert np.allclose(matrix.read(0, 4), expected, atol=1e-6)
    assert open_embeddings(path, ids, workdir=tmp_path / "work").path == matrix.path  # converted once, reused
    v = vectors.tolist()
    cases = {
        "unknown": (["a", "b", "c", "zz"], v, r"row 3: field id: 'zz' is not a corpus id"),
        "twice": (["a", "b", "c", "a"], v, r"row 3: field id: id 'a' appears twice"),
        "missing": (["a", "b", "c"], v[:3], r"1 of 4 corpus ids have no embedding, e.g. 'd'"),
        "dims": (ids, v[:3] + [v[3][:4]], r"row 3: field embedding: 4 values, expected 5"),
        "null": (ids, v[:2] + [None] + v[3:], r"row 2: field embedding: null vector"),
        "nan": (ids, v[:1] + [[float("nan")] * 5] + v[2:], r"row 1: field embedding: NaN"),
    }
    for name, (rows_ids, rows_vectors, message) in cases.items():
        bad = _parquet(tmp_path / f"{name}.parquet", rows_ids, rows_vectors)
        with pytest.raises(DataError, match=f"{name}.parquet: {message}"):
            open_embeddings(bad, ids, workdir=tmp_path / "work")
    assert not list((tmp_path / "work").glob(".*.tmp"))  # failed conversions leave nothing behind
    pq.write_table(pa.table({"key": ids, "embedding": v}), tmp_path / "cols.parquet")
    with pytest.raises(DataError, match=r"cols.parquet: field id: no column named id / _id"):
        open_embeddings(tmp_path / "cols.parquet", ids, workdir=tmp_path / "work")


# --- sharded encoding -----------------------------------------------------------------------------


def test_encode_to_store_shards_match_one_pass(tmp_path: Path) -> None:
    texts = [f"text number {i} about topic {i % 7}" for i in range(50)]
    encoder = HashEncoder()
    store = encode_to_store(encoder, texts, "document", tmp_path / "s.npy", shard_size=16)
    assert encoder.calls == 4  # 16 + 16 + 16 + 2
    assert np.array_equal(store.read(0, 50), HashEncoder().encode(texts, "document"))
    assert [p.name for p in tmp_path.iterdir()] == ["s.npy"]


def test_encode_to_store_fills_the_cache_shard_by_shard(tmp_path: Path) -> None:
    texts = [f"claim {i}: protein {i % 5} binds receptor {i % 3}" for i in range(24)]
    encoder = SentenceTransformerEncoder(cache_dir=tmp_path / "cache", show_progress=False)
    first = encode_to_store(encoder, texts, "document", tmp_path / "a.npy", shard_size=10)
    assert encoder.encoded_count == 24
    cache = EmbeddingCache(tmp_path / "cache", encoder.identity("document"))
    assert len(list(cache.folder.glob("emb-*.npy"))) == 3  # one cache shard per encoded shard
    again = SentenceTransformerEncoder(cache_dir=tmp_path / "cache", show_progress=False)
    second = encode_to_store(again, texts, "document", tmp_path / "b.npy", shard_size=7)
    assert again.encoded_count == 0  # everything read back from the sharded cache
    assert np.array_equal(first.read(0, 24), second.read(0, 24))


# --- indexes ---------------------------------------------------------------------------------------


def test_parse_memory_and_auto_choice() -> None:
    assert parse_memory("4GiB") == 4 * 2**30 and parse_memory("512MB") == 512 * 10**6 and parse_memory(2**30) == 2**30
    for bad in ("lots", "4 parsecs", "1MB"):
        with pytest.raises(ValueError):
            parse_memory(bad)
    assert choose_index(50_000, 384, 100_000, 4 * 2**30) == "exact"
    assert choose_index(1_000_000, 384, 100_000, 4 * 2**30) == "ivf"
    assert choose_index(5_000_000, 384, 100_000, 4 * 2**30) == "ivfpq"


def test_disk_scan_equals_flat_index(synthetic) -> None:
    data, corpus_path, query_path = synthetic
    corpus = EmbeddingMatrix.from_npy(corpus_path)
    queries = EmbeddingMatrix.from_npy(query_path).read(0, 100)
    in_memory = build_index(corpus, "exact")
    on_disk = build_index(corpus, "exact", max_memory=2 * 4 * corpus.shape[0] * corpus.dim - 1)  # no room for flat
    assert in_memory.params["scan"] == "memory" and on_disk.params["scan"] == "disk"
    s1, i1 = in_memory.search(queries, 25)
    s2, i2 = exact_search(queries, corpus, 25, budget_bytes=200_000)  # many small blocks
    assert np.array_equal(i1, i2)
    assert np.allclose(s1, s2, atol=1e-5)


@pytest.mark.parametrize("kind", ["ivf", "ivfpq", "hnsw"])
def test_approximate_index_recall_is_measured_honestly(synthetic, kind: str) -> None:
    data, corpus_path, query_path = synthetic
    corpus, queries = EmbeddingMatrix.from_npy(corpus_path), EmbeddingMatrix.from_npy(query_path).read(0, 400)
    index = build_index(corpus, kind, seed=0)
    report = tune_index(index, queries[:200], depth=50, target=0.9)
    assert report["recall@10"] >= 0.85
    # the reported recall (held-out half of the sample) predicts recall on queries it never saw
    truth = exact_search(queries[200:], corpus, 10)[1]
    assert abs(recall_at(index.search(queries[200:], 50)[1], truth, 10) - report["recall@10"]) < 0.06
    scores, ids = index.search(queries[:5], 10)
    exact_scores = np.einsum("qd,qkd->qk", queries[:5], corpus.take(ids))
    assert np.allclose(scores, exact_scores, atol=1e-5)  # returned scores are exact, PQ included


def test_index_memory_guard(synthetic) -> None:
    corpus = EmbeddingMatrix.from_npy(synthetic[1])
    with pytest.raises(ValueError, match="use --index ivfpq or exact"):
        build_index(corpus, "ivf", max_memory=2 * 4 * corpus.shape[0] * corpus.dim - 1)


# --- chunked mining --------------------------------------------------------------------------------


def test_sampling_draw_does_not_depend_on_batching() -> None:
    rng = np.random.default_rng(0)
    eligible = rng.random((30, 40)) < 0.7
    items = rng.permutation(1000)[:40][None, :].repeat(30, 0)
    rows = np.arange(30) + 500
    whole = sample_negatives(eligible, np.zeros((30, 40)), np.zeros(30), 5, "random", seed=4, rows=rows, items=items)
    parts = [
        sample_negatives(eligible[a:b], np.zeros((b - a, 40)), np.zeros(b - a), 5, "random", seed=4,
                         rows=rows[a:b], items=items[a:b])
        for a, b in ((0, 7), (7, 30))
    ]  # fmt: skip
    assert np.array_equal(whole, np.concatenate(parts))
    other_seed = sample_negatives(eligible, np.zeros((30, 40)), np.zeros(30), 5, "random", seed=5, rows=rows)
    assert not np.array_equal(whole, other_seed)


@pytest.mark.parametrize("sampling", ["top", "random", "simans"])
def test_chunked_search_equals_in_memory_exact_mining(tmp_path: Path, sampling: str) -> None:
    data = load_beir(scifact_slice(tmp_path / "sf", n_queries=40, extra_docs=300), split="train")
    options = dict(num_negatives=5, sampling=sampling, near_duplicate=None, seed=1)
    whole = mine_negatives(data, HashEncoder(), show_progress=False, **options)
    reference = whole.to_rows("flagembedding")
    out = tmp_path / "chunked.jsonl"
    summary = mine_to_file(
        data, out, HashEncoder(), index="exact", chunk_queries=7, cache_dir=False, show_progress=False, **options
    )
    assert summary["chunks"] == 6 and summary["index"]["type"] == "exact"
    assert _rows(out) == reference
    assert summary["negatives_emitted"] == sum(len(r["neg"]) for r in reference)
    # the six chunks' summaries merge into the in-memory run's: counts, dropped counts and score statistics
    same = ("queries", "candidates", "dropped", "not_sampled", "negatives_emitted", "scores", "fn_action",
            "queries_short_of_negatives", "queries_without_negatives", "short_query_ids")  # fmt: skip
    assert {k: summary[k] for k in same} == {k: whole.summary[k] for k in same}


def test_one_chunk_with_near_duplicate_filter_equals_in_memory(tmp_path: Path) -> None:
    data = load_beir(scifact_slice(tmp_path / "sf", n_queries=25, extra_docs=200), split="train")
    reference = mine_negatives(data, HashEncoder(), show_progress=False).to_rows("triplet")
    out = tmp_path / "out.jsonl"
    mine_to_file(data, out, HashEncoder(), format="triplet", index="exact", cache_dir=False, show_progress=False)
    assert _rows(out) == reference


def test_fn_rate_fit_on_sample_is_chunk_independent(synthetic, tmp_path: Path) -> None:
    data, corpus_path, query_path = synthetic
    files = dict(corpus_embeddings=corpus_path, query_embeddings=query_path, index="exact", show_progress=False)
    # TIcE: on this data (one planted positive per query, nothing missing) the default ROC-tail estimate
    # is a rate of 0, which leaves no cutoff to test; TIcE's lower bound on c gives a positive rate
    common = dict(fn_sample=150, near_duplicate=None, perc_pos=None, fn_estimator="tice", **files)
    naive = mine_to_file(data, tmp_path / "n.jsonl", estimate_fn=True, **common)["false_negatives"]
    assert naive["fit_on_queries"] == 150 and naive["estimated_fn_rate"] > 0
    target = naive["estimated_fn_rate"] / 2
    big = mine_to_file(data, tmp_path / "a.jsonl", chunk_queries=1000, max_fn_rate=target, **common)
    small = mine_to_file(data, tmp_path / "b.jsonl", chunk_queries=33, max_fn_rate=target, **common)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert big["false_negatives"] == small["false_negatives"]
    fn = big["false_negatives"]
    assert fn["cutoff"] < 1.0 and big["dropped"]["fn_probability"] > 0
    # the cutoff is chosen on the 150 sample queries; applied to all 400 it stays near the target
    assert fn["estimated_fn_rate"] <= target * 1.25


def test_streamed_output_is_atomic_and_validated(synthetic, tmp_path: Path) -> None:
    data, corpus_path, query_path = synthetic
    with pytest.raises(ValueError, match="must end in .jsonl or .parquet"):
        mine_to_file(data, tmp_path / "out.csv", corpus_embeddings=corpus_path, query_embeddings=query_path)
    wrong_dim = _save(tmp_path / "q.npy", np.ones((len(data.query_ids), 7), dtype=np.float32))
    with pytest.raises(DataError, match="q.npy: query vectors have 7 dimensions, corpus vectors 48"):
        mine_to_file(data, tmp_path / "out.parquet", corpus_embeddings=corpus_path, query_embeddings=wrong_dim,
                     show_progress=False)  # fmt: skip
    assert list(tmp_path.iterdir()) == [wrong_dim]
    out = tmp_path / "out.parquet"
    summary = mine_to_file(data, out, corpus_embeddings=corpus_path, query_embeddings=query_path, index="ivf",
                           chunk_queries=100, near_duplicate=None, show_progress=False)  # fmt: skip
    table = pq.read_table(out)
    assert table.num_rows == summary["rows_written"] == len(data.query_ids)
    assert pq.ParquetFile(out).num_row_groups == 4  # written chunk by chunk


# --- audit on the streamed pool --------------------------------------------------------------------


def test_streamed_audit_matches_in_memory_audit(tmp_path: Path) -> None:
    data = load_beir(scifact_slice(tmp_path / "sf", n_queries=60, extra_docs=300), split="train")
    kw = dict(depth=30, num_negatives=3, show_progress=False)  # the same 30 + max-positives pool in both
    memory = audit(data, HashEncoder(), **kw).summary
    scaled = audit_at_scale(data, HashEncoder(), index="exact", fn_sample=60, cache_dir=False, **kw).summary
    assert scaled["queries"] == memory["queries"] and scaled["labeled_positives"] == memory["labeled_positives"]
    assert scaled["label_frequency"] == memory["label_frequency"]  # same pool, same estimator
    assert [r["pairs"] for r in scaled["fn_probability_by_rank"]] == [
        r["pairs"] for r in memory["fn_probability_by_rank"]
    ]
    # g fit in-sample instead of out-of-fold: close, not identical
    assert scaled["estimated_fn_rate"] == pytest.approx(memory["estimated_fn_rate"], rel=0.3, abs=0.01)
    assert len(scaled["suspects"]) == len(memory["suspects"])


def test_streamed_audit_chunks_add_up(synthetic, tmp_path: Path) -> None:
    data, corpus_path, query_path = synthetic
    kw = dict(corpus_embeddings=corpus_path, query_embeddings=query_path, index="exact", fn_sample=200, depth=20)
    one = audit_at_scale(data, show_progress=False, **kw)
    result = runner.invoke(app, ["audit", data.source, "-o", str(tmp_path / "a"), "--corpus-embeddings",
                                 str(corpus_path), "--query-embeddings", str(query_path), "--index", "exact",
                                 "--fn-sample", "200", "--depth", "20", "--json", "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        json.loads((tmp_path / "a" / "audit.json").read_text())["estimated_fn_rate"] == one.summary["estimated_fn_rate"]
    )
    assert (tmp_path / "a" / "report.html").stat().st_size > 10_000


def test_teacher_on_the_scale_path_is_evidence_and_rescoring(tmp_path: Path) -> None:
    """A teacher streams like everything else: its signals reach every chunk, and its rescoring of each chunk
    equals the in-memory rescoring of the whole pool (same exact search, no detector)."""
    data = load_beir(scifact_slice(tmp_path / "sf", n_queries=36, extra_docs=150), split="train")
    teacher = HashEncoder(seed=9)
    kw = dict(depth=30, num_negatives=3, index="exact", fn_sample=30, cache_dir=False, show_progress=False)
    plain = audit_at_scale(data, HashEncoder(), **kw).summary
    taught = audit_at_scale(data, HashEncoder(), teacher=teacher, **kw).summary
    assert plain["teacher"] is None and taught["teacher"] == str(teacher)
    signals = set(taught["detector"]["signals"])
    assert {"teacher_score", "teacher_rank", "teacher_z", "rank_mean"} <= signals
    assert not {"teacher_score", "rank_mean"} & set(plain["detector"]["signals"])
    assert taught["estimated_fn_rate"] != plain["estimated_fn_rate"]  # the evidence changed the estimate
    mine = dict(num_negatives=3, near_duplicate=None, perc_pos=None, cache_dir=False, show_progress=False)
    memory = mine_negatives(data, HashEncoder(), teacher=teacher, **mine)
    memory.write(tmp_path / "memory.jsonl", "triplet")
    files = [tmp_path / f"{n}.jsonl" for n in ("big", "small")]
    for path, chunk in zip(files, (1000, 7)):
        summary = mine_to_file(data, path, HashEncoder(), teacher=teacher, index="exact", chunk_queries=chunk,
                               format="triplet", **mine)  # fmt: skip
        assert summary["teacher"] == str(teacher)
    assert files[0].read_bytes() == files[1].read_bytes() == (tmp_path / "memory.jsonl").read_bytes()
    assert any("label" in row for row in _rows(files[0]))  # the teacher's margin as the soft label
    with pytest.raises(ValueError, match="a teacher scores the pools in this process"):
        mine_to_file(data, tmp_path / "r.jsonl", HashEncoder(), teacher=teacher, engine="ray", **mine)
    assert not (tmp_path / "r.jsonl").exists()


# --- CLI and Ray -----------------------------------------------------------------------------------


def test_cli_scale_path(synthetic, tmp_path: Path) -> None:
    data, corpus_path, query_path = synthetic
    out = tmp_path / "negs.jsonl"
    args = ["mine", data.source, "-o", str(out), "--corpus-embeddings", str(corpus_path), "--query-embeddings",
            str(query_path), "--index", "ivf", "--no-near-duplicate", "-n", "3"]  # fmt: skip
    result = runner.invoke(app, [*args, "--json", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["index"]["type"] == "ivf" and summary["index"]["recall@10"] >= 0.9
    assert len(_rows(out)) == summary["rows_written"] == len(data.query_ids) - summary["queries_without_negatives"]
    bad = _save(tmp_path / "bad.npy", np.ones((3, 48), dtype=np.float32))
    result = runner.invoke(app, ["mine", data.source, "-o", str(tmp_path / "x.jsonl"), "--corpus-embeddings", str(bad)])
    assert result.exit_code == 2 and "bad.npy: 3 rows but the corpus has 6000 ids" in result.output
    assert not (tmp_path / "x.jsonl").exists()


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster for the module's Ray tests (the engine reuses a running one and leaves it up)."""
    ray = pytest.importorskip("ray")
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_local_writes_the_same_rows(synthetic, tmp_path: Path, ray_cluster) -> None:
    data, corpus_path, query_path = synthetic
    kw = dict(corpus_embeddings=corpus_path, query_embeddings=query_path, index="ivf", chunk_queries=90,
              estimate_fn=True, fn_sample=100, show_progress=False)  # fmt: skip
    local = mine_to_file(data, tmp_path / "local.jsonl", **kw)
    ray = mine_to_file(data, tmp_path / "ray.jsonl", engine="ray", ray_workers=2, **kw)
    assert ray["engine"] == "ray" and ray["chunks"] == 5
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert ray["false_negatives"] == local["false_negatives"]


def test_ray_encodes_and_mines_like_one_process(tmp_path: Path, ray_cluster) -> None:
    data = load_beir(scifact_slice(tmp_path / "sf", n_queries=30, extra_docs=150), split="train")
    kw = dict(index="exact", chunk_queries=8, cache_dir=False, show_progress=False)
    local = mine_to_file(data, tmp_path / "local.jsonl", HashEncoder(), **kw)
    ray = mine_to_file(data, tmp_path / "ray.jsonl", HashEncoder(), engine="ray", ray_workers=2, **kw)
    assert ray["chunks"] == local["chunks"] == 4
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
