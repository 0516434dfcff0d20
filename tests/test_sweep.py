"""The trust sweep: bad inputs and faults over every command, with every file of the working folder hashed.

Each case runs a command the way a new user would and checks three things: the exit code and
message (never a traceback), that no input or unrelated user file changed (a hash of every file in
the folder before and after), and that nothing half-written or temporary is left behind. Faults
(SIGINT/SIGTERM at several moments, kill -9, a file-size limit standing in for a full disk, a
read-only cache) run the real command line in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from trueneg import io
from trueneg.cli import app

from .conftest import SCIFACT, HashEncoder, scifact_slice, write_beir

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "trueneg" / "data" / "demo"


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content hash of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def small_folder(folder: Path, n_queries: int = 15, n_docs: int = 30, multi: int = 1) -> Path:
    """A SciFact-like BEIR folder: ``n_queries`` queries (``multi`` of them with two positives), ``n_docs`` docs."""
    if not SCIFACT.is_dir():
        pytest.skip("../shared/data/scifact not present")
    by_query: dict[str, list[str]] = {}
    for line in (SCIFACT / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        q, d, _ = line.split("\t")
        by_query.setdefault(q, []).append(d)
    chosen = [q for q in by_query if len(by_query[q]) >= 2][:multi]
    chosen += [q for q in by_query if len(by_query[q]) == 1][: n_queries - len(chosen)]
    positives = {d for q in chosen for d in by_query[q][:2]}
    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text().splitlines()]
    docs = [r for r in corpus if r["_id"] in positives]
    docs += [r for r in corpus if r["_id"] not in positives][: n_docs - len(docs)]
    queries = [json.loads(line) for line in (SCIFACT / "queries.jsonl").read_text().splitlines()]
    qrels = [(q, d, 1) for q in chosen for d in by_query[q][:2]]
    return write_beir(folder, docs, [q for q in queries if q["_id"] in chosen], qrels)


@pytest.fixture
def work(tmp_path: Path, monkeypatch) -> Path:
    """A working folder (the current folder) with user files, data of every shape, and a cheap encoder."""
    monkeypatch.setattr("trueneg.candidates.pool.encoder_for", lambda *a, **k: HashEncoder())
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    (tmp_path / "notes.txt").write_text("a user's notes\n")
    (tmp_path / ".out.jsonl.2024.bak").write_text("a user's backup\n")
    scifact_slice(tmp_path / "data", n_queries=20, extra_docs=40)
    (tmp_path / "pairs.jsonl").write_text(
        "".join(json.dumps({"query": f"what is topic {i}", "pos": f"topic {i} is a subject"}) + "\n" for i in range(12))
    )
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps({"anchor": f"q {i}", "positive": f"p {i}", "negative": f"n {i}"}) + "\n" for i in range(8))
    )
    rows = sorted({(u, int(i)) for u in range(30) for i in rng.choice(60, 8, replace=False)})
    (tmp_path / "log.csv").write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in rows))
    probs = rng.dirichlet(np.ones(3), 40)
    np.save(tmp_path / "probs.npy", probs)
    np.save(tmp_path / "y.npy", probs.argmax(1))
    (tmp_path / "nan_audit.json").write_text('{"estimated_fn_rate": NaN}')
    return tmp_path


# (command line, expected exit code, a regex the output must hold, files the run may create)
CASES = [
    # outputs that are inputs, or folders trueneg did not write
    ("train train.jsonl -o . --overwrite", 2, "must not be the current folder", ()),
    ("train train.jsonl -o . ", 2, "must not be the current folder", ()),
    ("train train.jsonl -o data --overwrite", 2, "holds files that trueneg did not write", ()),
    ("mine data -o data/corpus.jsonl", 2, r"is an input of this run", ()),
    ("mine data -o data/qrels/train.tsv", 2, r"must end in .jsonl or .parquet", ()),
    ("mine pairs.jsonl -o pairs.jsonl", 2, r"is an input of this run", ()),
    ("mine data -o out.jsonl --judge bi-encoder:default --fn-action relabel --judge-log out.jsonl", 2,
     "the judge log and the output are the same file", ()),  # fmt: skip
    ("audit data -o data/qrels", 0, "written", ("data/qrels/audit.json", "data/qrels/report.html")),
    ("recommend audit log.csv -o log.csv", 2, "is an input of this run", ()),
    ("recommend train log.csv --model als -o log.csv", 2, r"must end in .npz", ()),
    ("train train.jsonl -o out_model --loss debiased --audit nan_audit.json", 2,
     r"nan_audit.json: field 'estimated_fn_rate' must be a number", ()),  # fmt: skip
    # labels: the message names the file that is wrong
    ("labels probs.npy y.npy", 2, "pass LABELS first", ()),
    ("labels bad_labels.npy probs.npy", 2, r"bad_labels.npy: labels must lie in \[0, 3\)", ()),
    ("labels frac.npy probs.npy", 2, r"frac.npy: labels must be whole class indices; row 1", ()),
    ("labels y2d.npy probs.npy", 2, r"y2d.npy: labels must be one-dimensional", ()),
    ("labels y.npy probs.npy --features nan_feats.npy", 2, r"nan_feats.npy: features contain NaN", ()),
    ("labels y.npy probs.npy --features short_feats.npy", 2, r"short_feats.npy: features must be .* 40 rows", ()),
    ("labels empty.npy empty_probs.npy", 2, r"empty_probs.npy: pred_probs holds no example", ()),
    ("labels y.npy probs.npy -q", 0, "suspected label errors", ()),
    # small data works, or says what is short
    ("mine small -o out.jsonl --max-fn-rate 0.05", 0, "negatives emitted", ("out.jsonl", "out.trueneg-extra.jsonl")),
    ("audit small -o small_audit", 0, "written", ("small_audit/audit.json", "small_audit/report.html")),
    ("audit single -o single_audit", 2, r"too little data for the false-negative detector: it needs at least 2 "
     r"queries", ()),  # fmt: skip
    ("recommend audit one_user.csv -o ra.json", 2, r"needs at least 2 pairs without one \(unlabeled\) \(got 0\)", ()),
    ("recommend negatives log.csv -o many.jsonl -n 60 --sampler uniform", 2, r"ask for at most \d+", ()),
    # documented suffixes
    ("demo -o demo.parquet -q", 0, "example row", ("demo.parquet",)),
]


def _extra_inputs(folder: Path) -> None:
    np.save(folder / "bad_labels.npy", np.r_[np.zeros(39, dtype=int), 25])
    np.save(folder / "frac.npy", np.r_[0.0, 1.5, np.zeros(38)])
    np.save(folder / "y2d.npy", np.zeros((40, 2), dtype=int))
    np.save(folder / "nan_feats.npy", np.full((40, 4), np.nan))
    np.save(folder / "short_feats.npy", np.ones((3, 4)))
    np.save(folder / "empty.npy", np.zeros(0, dtype=int))
    np.save(folder / "empty_probs.npy", np.zeros((0, 3)))
    small_folder(folder / "small")
    small_folder(folder / "single", n_queries=1, n_docs=20)
    (folder / "one_user.csv").write_text("user,item\n1,1\n1,2\n1,3\n")


@pytest.mark.parametrize(("line", "code", "expected", "creates"), CASES, ids=[c[0] for c in CASES])
def test_sweep(work: Path, line: str, code: int, expected: str, creates: tuple[str, ...]) -> None:
    _extra_inputs(work)
    before = snapshot(work)
    result = runner.invoke(app, line.split())
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert result.exit_code == code, output
    assert re.search(expected, " ".join(output.split())), output
    after = snapshot(work)
    assert {k: v for k, v in after.items() if k in before} == before, "an existing file changed"
    assert sorted(set(after) - set(before)) == sorted(creates), "unexpected files left"


def test_mine_never_removes_unrelated_dotfiles_and_cleans_its_own(work: Path) -> None:
    dead = 2**22 + 12345  # beyond the default pid_max of 4194304: no such process
    stale = work / f".out.jsonl.{io.MARK}.{dead}.abcd1234"
    stale.write_text("left by a killed run")
    lookalike = work / f".out.jsonl.{dead}.abcd1234.tmp"  # the old, loose pattern: a user's file now
    lookalike.write_text("not ours")
    result = runner.invoke(app, ["mine", "data", "-o", "out.jsonl"])
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert lookalike.exists() and (work / ".out.jsonl.2024.bak").read_text() == "a user's backup\n"


def test_overwrite_replaces_only_a_trueneg_model_folder(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_text("mine")
    with pytest.raises(io.OutputError, match="holds files that trueneg did not write"):
        io.check_output_folder(model, marker="trueneg_train.json", overwrite=True)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        io.check_output_folder(model, marker="trueneg_train.json")
    (model / "trueneg_train.json").write_text("{}")
    io.check_output_folder(model, marker="trueneg_train.json", overwrite=True)
    with io.atomic_dir(model) as staging:
        assert (model / "weights.bin").exists()  # the old folder stays until the new one is complete
        (staging / "new.bin").write_text("new")
    assert sorted(p.name for p in model.iterdir()) == ["new.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # nothing left beside it
    with pytest.raises(RuntimeError), io.atomic_dir(model) as staging:
        (staging / "half.bin").write_text("half")
        raise RuntimeError("failed part-way")
    assert sorted(p.name for p in model.iterdir()) == ["new.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_stale_work_dirs_of_killed_runs_are_removed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = 2**22 + 54321
    left = tmp_path / f".trueneg-stream.{io.MARK}.{dead}.abcd1234"
    left.mkdir()
    (left / io.STAGING_MARK).write_text("")
    unmarked = tmp_path / f".trueneg-stream.{io.MARK}.{dead}.zzzz9999"
    unmarked.mkdir()  # same name shape but no marker inside: not provably ours
    with io.work_dir("trueneg-stream") as work_folder:
        assert work_folder.is_dir()
    assert not left.exists() and unmarked.exists() and not work_folder.exists()


def test_read_only_cache_warns_and_runs(tmp_path: Path) -> None:
    from trueneg.candidates.cache import EmbeddingCache

    cache = EmbeddingCache("/proc/trueneg-cache", "model|document")
    with pytest.warns(UserWarning, match="cannot write the embedding cache"):
        cache.add(["a text"], np.ones((1, 4), dtype=np.float32))


def test_qrels_first_line_is_checked_like_any_other(tmp_path: Path) -> None:
    from trueneg.data import DataError, load_beir

    folder = write_beir(tmp_path / "b", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "y"}], [])
    (folder / "qrels" / "train.tsv").write_text("q1\tnope\t1\nq1\td1\t1\n")
    with pytest.raises(DataError, match=r"train.tsv:1: field 'corpus-id': unknown corpus id 'nope'"):
        load_beir(folder)


def test_ids_are_stripped_everywhere(tmp_path: Path) -> None:
    from trueneg.data import load_beir

    corpus = [{"_id": " d1 ", "text": "cats"}, {"_id": "d2", "text": "dogs"}]
    folder = write_beir(tmp_path / "b", corpus, [{"_id": " q1", "text": "cats?"}], [("q1", "d1 ", 1)])
    data = load_beir(folder)
    assert data.doc_ids == ["d1", "d2"] and data.qrels == {"q1": {"d1": 1}}


def test_recommend_negatives_are_distinct_within_a_row(work: Path) -> None:
    from trueneg.recommendation import load_interactions, recommend_negatives

    log = load_interactions(work / "log.csv")
    for sampler, n in (("uniform", 2), ("uniform", 40), ("popularity", 30), ("hard", 40)):
        rows = recommend_negatives(log, sampler, n, seed=0)
        assert all(len(set(r["negatives"])) == n for r in rows), sampler
        seen = {(r["user"], r["item"]) for r in rows}
        assert not any((r["user"], neg) in seen for r in rows for neg in r["negatives"])


# --- faults in a real subprocess: the command line as installed, the real model -------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "trueneg", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize(("delay", "signum"), [(0.6, signal.SIGINT), (2.0, signal.SIGINT), (6.0, signal.SIGINT),
                                               (6.0, signal.SIGTERM)])  # fmt: skip
def test_interrupt_stops_and_leaves_the_old_output(tmp_path: Path, delay: float, signum: int) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("previous output\n")
    before = snapshot(tmp_path)
    proc = subprocess.Popen(
        _cli("mine", str(DEMO), "-o", str(out), "--no-cache", "-q"), cwd=tmp_path, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(delay)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before the signal: {proc.stderr.read()}")
    sent = time.monotonic()
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15, "did not stop promptly"
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr, stderr
    assert snapshot(tmp_path) == before  # the old output as it was, no temporary file


def test_full_disk_keeps_the_old_output(work: Path) -> None:
    out = work / "negs.jsonl"
    out.write_text("previous output\n")
    before = snapshot(work)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.run(
        _cli("recommend", "negatives", "log.csv", "-o", "negs.jsonl", "--sampler", "uniform", "-n", "20", "-q"),
        cwd=work, env=_env(), preexec_fn=limit, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "negs.jsonl: cannot write it: the file exceeds the size this system allows" in " ".join(proc.stderr.split())
    assert snapshot(work) == before


def test_a_missing_extra_names_it_with_its_brackets(work: Path, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    result = runner.invoke(app, ["mine", "data", "-o", "out.jsonl", "--backend", "onnx-int8"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "needs the 'fast' extra: pip install 'trueneg[fast]'" in " ".join(result.output.split())
    assert not (work / "out.jsonl").exists()


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_an_audit_that_emits_nothing_draws_its_report_without_numpy_warnings(work: Path) -> None:
    small_folder(work / "small")
    result = runner.invoke(app, ["audit", "small", "-o", "emptied", "--max-fn-rate", "0", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((work / "emptied" / "audit.json").read_text())
    assert summary["mining"]["negatives_emitted"] == 0 and "emitted negatives (none)" not in result.output


def test_every_command_takes_quiet() -> None:
    import typer.main

    def commands(group, prefix=()):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, (*prefix, name))
            else:
                yield (*prefix, name), command

    found = dict(commands(typer.main.get_command(app)))
    assert len(found) >= 10
    for name, command in found.items():
        flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert {"-q", "--quiet"} <= flags, " ".join(name)
