"""``trueneg judge``: the local page in headless Chromium with real key presses, saving as it goes and resuming
after a killed page; the machine fill; files that are not a verification sample."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trueneg.audit.judge_page import judge_file, serve
from trueneg.cli import app
from trueneg.mining.judges import ProbabilityJudge

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _sample(path: Path, n: int = 40) -> Path:
    rows = [{"query_id": f"q{i % 7}", "doc_id": f"d{i}", "query": f"query {i % 7}", "document": f"candidate text {i}",
             "positives": [f"known positive of {i % 7}"], "probability": (i % 10) / 10, "inclusion_probability": 0.01,
             "stratum": 0, "stratum_size": 4000, "position": i, "rank": i % 10 + 1, "sample_id": "abc-0-40",
             "judgment": None, "judge": None}
            for i in range(n)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make test` installs Debian's chromium package")
        pytest.skip("chromium not installed (make test installs it)")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=FLAGS)
        yield launched
        launched.close()


def _start(path: Path):
    server = serve(path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def test_keys_judge_save_and_resume(browser, tmp_path: Path) -> None:
    path = _sample(tmp_path / "verify.jsonl")
    server, url = _start(path)
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("document.getElementById('progress').textContent.startsWith('0 / 40')")
    assert page.text_content("#candidate") == "candidate text 0" and "known positive of 0" in page.text_content(
        "#positive")
    for key in ["1", "0", "s", "r", "b", "b", "n"]:  # row 0 relevant, 1 not, skip 2, 3 relevant, back to 2: not
        page.keyboard.press(key)
        page.wait_for_timeout(80)
    page.wait_for_function("document.getElementById('progress').textContent.startsWith('4 / 40')")
    rows = _rows(path)  # saved as they were made, atomically
    assert [r["judgment"] for r in rows[:5]] == [1, 0, 0, 1, None] and rows[0]["judge"] == "person"
    assert "appears after 30" in page.text_content("#estimate")
    page.close()  # the page is killed, and the server with it
    server.shutdown()
    server.server_close()

    server, url = _start(path)  # a new server on the same file: the page resumes at the first unjudged row
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("document.getElementById('progress').textContent.startsWith('4 / 40')")
    assert page.text_content("#row") == "5 of 40" and page.text_content("#candidate") == "candidate text 4"
    for _ in range(26):  # as fast as keys go: each press judges the next row, saves or not in flight
        page.keyboard.press("0")
    page.wait_for_function("document.getElementById('progress').textContent.startsWith('30 / 40')")
    assert "Running estimate: " in page.text_content("#estimate")
    page.close()
    server.shutdown()
    server.server_close()
    assert [r["judgment"] for r in _rows(path)][4:31] == [0] * 26 + [None]


def test_machine_fill_and_bad_files(tmp_path: Path) -> None:
    path = _sample(tmp_path / "verify.jsonl")
    rows = _rows(path)
    rows[0]["judgment"] = 0
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = judge_file(path, [ProbabilityJudge(0.5)])
    filled = _rows(path)
    assert summary["judged"] == 39 and filled[0]["judgment"] == 0 and filled[0]["judge"] is None  # kept
    assert all(r["judgment"] == int(r["probability"] >= 0.5) for r in filled[1:])
    assert {r["judge"] for r in filled[1:]} == {ProbabilityJudge(0.5).name}
    runner = CliRunner()
    (tmp_path / "other.jsonl").write_text('{"query": "q", "pos": ["p"]}\n')
    out = runner.invoke(app, ["judge", str(tmp_path / "other.jsonl")])
    assert out.exit_code == 2 and "other.jsonl:1: missing field 'query_id'" in out.output
    out = runner.invoke(app, ["judge", str(tmp_path / "missing.jsonl")])
    assert out.exit_code == 2 and "no such file" in out.output
