"""Bad input and bad options, as a new user meets them: a clear error (exit 2) naming the cause, no output written.

One table of (command line, message) cases across the commands, then the cases that need their own
set-up (real-data slices, the library API).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from trueneg.cli import app
from trueneg.data import Columns, load_pairs
from trueneg.mining import mine_negatives

from .conftest import HashEncoder, scifact_slice, write_beir

runner = CliRunner()


@pytest.fixture
def world(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """A SciFact slice, a small interaction log, label files, and a cheap encoder behind every command."""
    monkeypatch.setattr("trueneg.candidates.pool.encoder_for", lambda *a, **k: HashEncoder())
    rng = np.random.default_rng(0)
    log = tmp_path / "log.csv"
    rows = {(u, i) for u in range(30) for i in rng.choice(60, 8, replace=False)}
    log.write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in sorted(rows)))
    probs = rng.dirichlet(np.ones(3), 50)
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", probs.argmax(1))
    (tmp_path / "a_file").write_text("x")
    return {"beir": scifact_slice(tmp_path / "sf", n_queries=20, extra_docs=60), "log": log, "tmp": tmp_path}


OUT = "{tmp}/out.jsonl"
CASES = [
    # mining options outside their domain
    ("mine {beir} -o " + OUT + " --near-duplicate 2", "near_duplicate must be in (0, 1], got 2.0"),
    ("mine {beir} -o " + OUT + " --near-duplicate nan", "near_duplicate must be a finite number"),
    ("mine {beir} -o " + OUT + " --max-score nan", "max_score must be a finite number"),
    ("mine {beir} -o " + OUT + " --margin inf", "margin must be a finite number"),
    ("mine {beir} -o " + OUT + " --simans-a -5", "simans_a must be in (0, inf], got -5.0"),
    ("mine {beir} -o " + OUT + " --perc-pos 0", "perc_pos must be in (0, 1], got 0.0"),
    ("mine {beir} -o " + OUT + " --max-fn-rate 1.5", "max_fn_rate must be in [0, 1], got 1.5"),
    ("mine {beir} -o " + OUT + " -n 0", "num_negatives must be at least 1"),
    # filters that leave nothing: an error that says why and what to change
    ("mine {beir} -o " + OUT + " --max-score -1", "no negative was emitted.*max_score: .*raise max_score"),
    ("mine {beir} -o " + OUT + " --min-score 5", "no negative was emitted.*lower min_score"),
    # outputs checked before any work
    ("mine {beir} -o /sys/out.jsonl", "cannot write the output"),
    ("mine {beir} -o {tmp}", "is a folder; the output must be a file"),
    ("mine {beir} -o {tmp}/a_file/out.jsonl", "a_file is not a folder"),
    ("mine {beir} -o " + OUT + " --cache-dir {tmp}/a_file --model default", "cache.*must be a folder, not a file"),
    ("mine {beir} -o " + OUT + " --teacher /nonexistent/model", "teacher '/nonexistent/model': no such model folder"),
    ("mine {beir} -o " + OUT + " --model /nonexistent/model", "model '/nonexistent/model': no such model folder"),
    ("mine {beir} -o " + OUT + " --judge oracle", "expected cross-encoder:MODEL, bi-encoder:MODEL or llm:URL#MODEL"),
    ("mine {beir} -o " + OUT + " --fn-action keep", "fn_action must be one of drop, relabel, drop-query"),
    (
        "mine {beir} -o " + OUT + " --fn-action relabel --judge bi-encoder:default --judge-log /sys/j.jsonl",
        "cannot write the judge log",
    ),
    ("audit {beir} -o {tmp}/a_file", "--output-dir is a file"),
    ("audit {beir} -o /sys/audit", "cannot write the audit"),
    # audit and eval options
    ("audit {beir} -o {tmp}/audit --depth 0", "depth must be at least 1"),
    ("audit {beir} -o {tmp}/audit --depth 10 --top-k 50", r"top_k must be in \[1, 10\], got 50"),
    ("audit {beir} -o {tmp}/audit --suspects -1", "n_suspects must be at least 0"),
    ("eval default {beir} --split train --depth 5", "depth must be an integer of at least 100"),
    # labels
    ("labels {tmp}/y.npy {tmp}/p.npy --top -1", "--top must be at least 0"),
    ("labels {tmp}/y.npy {tmp}/p.npy --k 0", "k must be at least 1"),
    ("labels {tmp}/p.npy {tmp}/y.npy", "pass LABELS first, then PRED_PROBS"),
    # recommendation
    ("recommend negatives {log} -o " + OUT + " -n 0 --sampler uniform", "num_negatives must be at least 1"),
    ("recommend negatives {log} -o " + OUT + " -n 100000000 --sampler uniform", "GiB, more than half"),
    ("recommend train {log} -k 0 --epochs 1", "k must be at least 1"),
    ("recommend negatives {log} -o " + OUT + " --max-probability -1", "max_probability must be in [0, 1], got -1.0"),
    ("recommend train {log} --epochs 1 -o {tmp}/f.txt", "must end in .npz"),
    ("recommend audit {log} -o /sys/a.json", "cannot write the audit"),
    # training
    ("train {tmp}/none.jsonl -o {tmp}/model --device cuda", "no CUDA GPU|none.jsonl: file not found"),
]


@pytest.mark.parametrize(("line", "message"), CASES, ids=[c[0].split(" -")[0] + f"#{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_a_clear_error_and_writes_nothing(world: dict[str, Path], line: str, message: str) -> None:
    import re

    args = line.format(**world).split()
    before = set(world["tmp"].iterdir())
    result = runner.invoke(app, [*args, "-q"] if args[0] in ("mine", "audit", "eval", "train") else args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    try:
        found = message in text or re.search(message, text) is not None
    except re.error:  # a plain message with brackets
        found = False
    assert found, result.output
    assert "Traceback" not in result.output
    created = set(world["tmp"].iterdir()) - before
    assert not created, f"written despite the error: {created}"


def test_empty_output_is_written_only_when_asked(world: dict[str, Path]) -> None:
    out = world["tmp"] / "empty.jsonl"
    args = ["mine", str(world["beir"]), "-o", str(out), "--max-score", "-1", "-q", "--json"]
    assert runner.invoke(app, args).exit_code == 2 and not out.exists()
    result = runner.invoke(app, [*args, "--allow-empty"])
    assert result.exit_code == 0 and out.read_text() == ""
    assert json.loads(result.stdout)["negatives_emitted"] == 0


def test_a_fractional_positive_grade_is_never_emitted_as_a_negative(tmp_path: Path) -> None:
    corpus = [{"_id": f"d{i}", "text": f"cats purr softly {i}" if i < 3 else f"stock markets {i}"} for i in range(12)]
    folder = write_beir(
        tmp_path / "b", corpus, [{"_id": "q", "text": "do cats purr"}], [("q", "d0", 1), ("q", "d1", 0.5)]
    )
    from trueneg.data import load_beir

    data = load_beir(folder, "train")
    result = mine_negatives(
        data, HashEncoder(), num_negatives=5, perc_pos=None, near_duplicate=None, show_progress=False
    )
    assert "d1" not in result.negative_ids()["q"]
    assert sorted(d for d in data.qrels["q"]) == ["d0", "d1"] and data.qrels["q"]["d1"] == 0.5


def test_pair_file_columns_are_named_not_guessed(tmp_path: Path) -> None:
    from trueneg.data import DataError

    csv = tmp_path / "pairs.csv"
    csv.write_text("query,doc,label\nq one,doc a,1\nq one,doc b,0\nq two,doc c,1\n")
    with pytest.raises(DataError, match=r"column 'label' looks like a relevance label.*--label-column"):
        load_pairs(csv)
    data = load_pairs(csv, columns=Columns(positives=("doc",), label="label"))
    assert data.qrels == {"q0": {"d0": 1, "d1": 0}, "q1": {"d2": 1}}
    ambiguous = tmp_path / "two.csv"
    ambiguous.write_text("query,text_a,text_b\nq,a,b\n")
    with pytest.raises(DataError, match=r"cannot tell which of \['text_a', 'text_b'\] hold positive documents"):
        load_pairs(ambiguous)
    assert load_pairs(ambiguous, columns=Columns(positives=("text_a",), negatives=("text_b",))).qrels == {
        "q0": {"d0": 1, "d1": 0}
    }
    result = runner.invoke(app, ["mine", str(csv), "-o", str(tmp_path / "o.jsonl"), "-q"])
    assert result.exit_code == 2 and "--label-column" in result.output


def test_stale_temporary_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    from trueneg.io import write_rows

    target = tmp_path / "out.jsonl"
    dead = tmp_path / ".out.jsonl.trueneg-tmp.999999999.abcd1234"  # no process has this id
    dead.write_text("half a file")
    alive = tmp_path / f".out.jsonl.trueneg-tmp.{__import__('os').getpid()}.abcd1234"
    alive.write_text("another writer, still running")
    write_rows(target, [{"a": 1}])
    assert not dead.exists() and alive.exists() and target.read_text() == '{"a": 1}\n'


def test_corrupt_cache_shard_is_ignored_with_its_path(tmp_path: Path) -> None:
    from trueneg.candidates.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path, "m")
    cache.add(["a", "b"], np.eye(2, dtype=np.float32))
    cache.add(["a", "b", "c"], np.eye(3, dtype=np.float32)[:, :2])  # only "c" is new: one more shard, not a copy
    shards = sorted(cache.folder.glob("keys-*.npy"), key=lambda p: -len(np.load(p)))
    assert [len(np.load(p)) for p in shards] == [2, 1]
    shards[0].write_bytes(b"\x93NUMPY broken")  # the shard of "a" and "b"
    with pytest.warns(UserWarning, match=r"keys-.*\.npy: unreadable embedding cache shard ignored"):
        vectors, missing = cache.lookup(["a", "c"])
    assert missing.tolist() == [True, False]


def test_cli_help_shows_defaults_version_and_short_help() -> None:
    result = runner.invoke(app, ["mine", "-h"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "[default: flagembedding]" in text
    assert "[guessed from the names]" in text and "<bool>" not in text
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("trueneg ")


def test_mine_takes_dataframes_dataset_dicts_and_returns_datasets() -> None:
    import datasets
    import pandas as pd

    import trueneg

    frame = pd.DataFrame({"query": ["cats purr", "dogs bark"], "positive": ["cats purr a lot", "dogs bark loudly"]})
    corpus = ["stock markets fell", "bread with yeast", "cats and dogs together", "rain in spain"]
    options = dict(num_negatives=2, perc_pos=None, near_duplicate=None, show_progress=False)
    mined = trueneg.mine(frame, HashEncoder(), corpus=corpus, **options)  # a DataFrame in, a DataFrame out
    assert isinstance(mined, pd.DataFrame)
    rows = mined.to_dict(orient="records")
    assert [r["query"] for r in rows] == ["cats purr", "dogs bark"] and all(len(r["neg"]) == 2 for r in rows)
    assert list(rows[0]["neg"]) == list(trueneg.mine(frame, HashEncoder(), corpus=corpus, return_type="rows",
                                                     **options)[0]["neg"])  # fmt: skip
    split = datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame)})
    with pytest.warns(DeprecationWarning, match=r"query_prompt is a setting of the encoder"):  # the older spelling
        ds = trueneg.mine(split, HashEncoder(), corpus=corpus, return_dataset=True, query_prompt="query: ", **options)
    assert isinstance(ds, datasets.Dataset) and ds[0]["prompt"] == "query: " and ds[0]["neg"] == list(rows[0]["neg"])
    with pytest.raises(ValueError, match="no split 'test'"):
        trueneg.mine(split, HashEncoder(), split="test", corpus=corpus, **options)


def test_long_documents_are_cut_before_tokenizing() -> None:
    from trueneg.candidates.encoders import CHARS_PER_TOKEN, SentenceTransformerEncoder

    seen: list[int] = []

    class Tokenizer:
        def __call__(self, texts, **kwargs):
            seen.extend(len(t) for t in texts)
            return {"input_ids": [[0] * 8 for _ in texts]}

    class Model:
        max_seq_length = 16
        tokenizer = Tokenizer()

        def encode(self, texts, **kwargs):
            seen.extend(len(t) for t in texts)
            return np.ones((len(texts), 4), dtype=np.float32) / 2

    encoder = SentenceTransformerEncoder(Model(), cache_dir=False, show_progress=False)
    vectors = encoder.encode(["word " * 2_000_000, "short"], "document")  # a 10 MB document
    assert vectors.shape == (2, 4) and max(seen) == 16 * CHARS_PER_TOKEN
