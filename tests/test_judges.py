"""The judge cascade: ordering, budget, the record file, and the chat client against a local HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from trueneg.mining import mine_negatives
from trueneg.mining.judges import (
    BiEncoderJudge,
    ChatJudge,
    JudgeItem,
    ProbabilityJudge,
    run_cascade,
)
from trueneg.pu.synthetic import planted_missing_positives

from .conftest import HashEncoder


def _items(n: int = 6) -> list[JudgeItem]:
    return [JudgeItem("q", f"d{i}", "cats purr", "cats purr a lot", f"text {i}", i / n) for i in range(n)]


class Recorder:
    """A judge that flags the items whose candidate ends in an even number, and remembers what it saw."""

    name = "even"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def judge(self, items):
        self.seen += [i.doc_id for i in items]
        return [(int(i.candidate.split()[-1]) % 2 == 0, 1.0) for i in items]


def test_each_judge_sees_only_what_the_previous_flagged_within_the_budget(tmp_path: Path) -> None:
    second, third = Recorder(), Recorder()
    record = tmp_path / "judgments.jsonl"
    flagged, judgments = run_cascade(_items(), [ProbabilityJudge(0.3), second, third], budget=3, record=record)
    # probability >= 0.3 flags d2..d5; the budget lets the 3 most probable (d3, d4, d5) through
    assert second.seen == ["d3", "d4", "d5"] and third.seen == ["d4"]
    assert flagged.tolist() == [False, False, False, False, True, False]
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(lines) == len(judgments) == 6 + 3 + 1
    assert {"query_id", "doc_id", "judge", "verdict", "score"} == set(lines[0])
    with pytest.raises(ValueError, match="at least one judge"):
        run_cascade(_items(), [])


def test_bi_encoder_judge_applies_the_margin_to_the_positive() -> None:
    items = [JudgeItem("q", "a", "cats purr", "cats purr", "cats purr", 0.9),
             JudgeItem("q", "b", "cats purr", "cats purr", "stock markets fell", 0.9)]  # fmt: skip
    verdicts = BiEncoderJudge(HashEncoder(), margin=0.05).judge(items)
    assert [v for v, _ in verdicts] == [True, False]


class FakeLLM(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions: candidates mentioning 'purr' are relevant."""

    calls = 0
    fail_first = 0

    def do_POST(self) -> None:  # noqa: N802
        FakeLLM.calls += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if FakeLLM.fail_first > 0:
            FakeLLM.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        prompt = body["messages"][0]["content"]
        listing = prompt.split("Candidates:\n", 1)[1].split("\n\nRelevant candidates:")[0].splitlines()
        relevant = [line[1 : line.index("]")] for line in listing if "purr" in line]
        answer = {"choices": [{"message": {"content": ", ".join(relevant) or "none"}}]}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def llm():
    server = HTTPServer(("127.0.0.1", 0), FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeLLM.calls, FakeLLM.fail_first = 0, 0
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_chat_judge_batches_retries_and_resumes_from_its_cache(llm: str, tmp_path: Path) -> None:
    items = [JudgeItem("q", f"d{i}", "cats", "cats purr", f"cats purr {i}" if i % 2 else f"dogs bark {i}", 0.9)
             for i in range(5)]  # fmt: skip
    cache = tmp_path / "cache.jsonl"
    FakeLLM.fail_first = 1  # one 503, then answers: the client retries
    judge = ChatJudge(llm, "fake", batch_size=2, backoff=0.01, cache=cache)
    assert [v for v, _ in judge.judge(items)] == [False, True, False, True, False]
    assert FakeLLM.calls == 1 + 3  # the failed attempt, then 3 batches of at most 2 candidates
    again = ChatJudge(llm, "fake", batch_size=2, backoff=0.01, cache=cache)
    assert [v for v, _ in again.judge(items)] == [False, True, False, True, False]
    assert FakeLLM.calls == 4 and again.requests == 0  # resumed from the cache: nothing paid twice
    cache.write_text(cache.read_text() + '{"key": "cut mid-wri')  # an interrupted append is ignored
    assert len(ChatJudge(llm, "fake", cache=cache)._load_cache(cache)) == 5


def test_chat_judge_says_clearly_when_the_endpoint_is_unreachable(tmp_path: Path) -> None:
    judge = ChatJudge("http://127.0.0.1:9/v1", "fake", retries=2, backoff=0.01, timeout=2, cache=False)
    with pytest.raises(ValueError, match=r"judge endpoint http://127.0.0.1:9/v1 unreachable after 2 attempts"):
        judge.judge(_items(1))


def test_mining_with_a_cascade_drops_or_relabels_what_the_judges_flag(tmp_path: Path) -> None:
    data, pool, hidden = planted_missing_positives(seed=8)
    kw = dict(num_negatives=4, pool=pool, range_max=30, show_progress=False, perc_pos=None, near_duplicate=None)
    judge = BiEncoderJudge(HashEncoder(), margin=1.0)  # flags everything it sees: the cascade is the first stage
    record = tmp_path / "j.jsonl"
    dropped = mine_negatives(data, judges=[judge], relabel_probability=0.5, judgments_file=record, **kw)
    assert dropped.summary["dropped"]["judged_relevant"] > 0
    judged = [json.loads(line) for line in record.read_text().splitlines()]
    first = {(j["query_id"], j["doc_id"]) for j in judged if j["judge"].startswith("bi-encoder")}
    negatives = {(q, d) for q, docs in dropped.negative_ids().items() for d in docs}
    assert first and not (first & negatives)
    relabeled = mine_negatives(data, judges=[judge], fn_action="relabel", relabel_probability=0.5, **kw)
    inferred = {(q, d) for q, docs in relabeled.inferred_ids().items() for d in docs}
    assert inferred and inferred <= first
    assert np.mean([p in hidden for p in inferred]) > 0.8
