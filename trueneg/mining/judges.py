"""A judge cascade for suspected false negatives: cheap judges screen, stronger judges re-check.

After RLHN ("Hard Negatives, Hard Lessons", 2025): every suspected false negative of a query (a
candidate that may be an unlabeled positive) goes through an ordered list of judges; each judge sees
only what the previous one flagged as relevant, so the expensive ones (a cross-encoder, an LLM) see
few pairs. What the last judge flags is acted on (:func:`trueneg.mining.mine_negatives`'
``fn_action``: drop, relabel as a positive, or drop the query).

Judges (each has a ``name`` and ``judge(items) -> list[(relevant, score)]``):

- :class:`ProbabilityJudge`: trueneg's own false-negative probability, free.
- :class:`CrossEncoderJudge`: a sentence-transformers ``CrossEncoder``; relevant when the candidate
  scores at least the query's positive minus ``margin``.
- :class:`BiEncoderJudge`: any encoder (:class:`~trueneg.candidates.Encoder`); the same margin rule
  on cosine similarity.
- :class:`ChatJudge`: an LLM behind an OpenAI-compatible ``/chat/completions`` endpoint, asked
  RLHN-style which of a query's candidates are relevant given its positive. Requests are batched per
  query, retried with backoff, and every answer is cached on disk (JSONL, keyed by model and texts),
  so an interrupted run resumes without paying twice. This is the only judge not run against a real
  model in this project's tests (no network here): its client is tested against a local HTTP server.

Every judgment (judge, verdict, score) can be written to a JSONL file for a person to review.

Example:
    >>> items = [JudgeItem("q", "d1", "query", "positive", "candidate", 0.9),
    ...          JudgeItem("q", "d2", "query", "positive", "other", 0.1)]
    >>> flagged, judgments = run_cascade(items, [ProbabilityJudge(0.5)])
    >>> flagged.tolist(), [j.verdict for j in judgments]
    ([True, False], [True, False])
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trueneg.io import atomic_path


@dataclass(frozen=True)
class JudgeItem:
    """One suspected false negative: query, its (first) labeled positive, candidate, detector probability."""

    query_id: str
    doc_id: str
    query: str
    positive: str
    candidate: str
    probability: float


@dataclass(frozen=True)
class Judgment:
    """One judge's verdict on one item: ``relevant`` (a missing positive) or not, with the judge's score."""

    query_id: str
    doc_id: str
    judge: str
    verdict: bool
    score: float


class Judge(Protocol):
    name: str

    def judge(self, items: list[JudgeItem]) -> list[tuple[bool, float]]: ...


class ProbabilityJudge:
    """Relevant when trueneg's false-negative probability is at least ``threshold``."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.name = f"probability>={threshold:g}"

    def judge(self, items: list[JudgeItem]) -> list[tuple[bool, float]]:
        return [(item.probability >= self.threshold, float(item.probability)) for item in items]


class CrossEncoderJudge:
    """Relevant when ``score(query, candidate) >= score(query, positive) - margin`` under a cross-encoder."""

    def __init__(self, model: Any, margin: float = 0.0, batch_size: int = 32) -> None:
        self.model = model
        self.margin = margin
        self.batch_size = batch_size
        self.name = f"cross-encoder:{model if isinstance(model, str) else type(model).__name__}"

    def judge(self, items: list[JudgeItem]) -> list[tuple[bool, float]]:
        from trueneg.candidates.encoders import load_model

        if isinstance(self.model, (str, os.PathLike)):
            self.model = load_model(self.model, cross_encoder=True)
        pairs = [(i.query, i.candidate) for i in items] + [(i.query, i.positive) for i in items]
        scores = np.asarray(self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False))
        scores = scores.reshape(len(pairs), -1)[:, -1]
        cand, pos = scores[: len(items)], scores[len(items) :]
        return [(bool(c >= p - self.margin), float(c - p)) for c, p in zip(cand, pos)]


class BiEncoderJudge:
    """Relevant when ``cos(query, candidate) >= cos(query, positive) - margin`` under an encoder."""

    def __init__(self, encoder: Any, margin: float = 0.05) -> None:
        self.encoder = encoder
        self.margin = margin
        self.name = f"bi-encoder:{encoder if isinstance(encoder, str) else type(encoder).__name__}"

    def judge(self, items: list[JudgeItem]) -> list[tuple[bool, float]]:
        from trueneg.candidates.encoders import as_encoder

        encoder = as_encoder(self.encoder, show_progress=False)
        q = encoder.encode([i.query for i in items], "query")
        c = encoder.encode([i.candidate for i in items], "document")
        p = encoder.encode([i.positive for i in items], "document")
        gap = np.einsum("ij,ij->i", q, c) - np.einsum("ij,ij->i", q, p)
        return [(bool(g >= -self.margin), float(g)) for g in gap]


PROMPT = (
    "You judge search results. A query and one passage known to be relevant to it are given, then "
    "numbered candidate passages. Which candidates are also relevant to the query, as relevant as the "
    "known passage? Answer with the numbers of the relevant candidates separated by commas, or 'none'.\n\n"
    "Query: {query}\n\nKnown relevant passage: {positive}\n\nCandidates:\n{candidates}\n\nRelevant candidates:"
)


class ChatJudge:
    """An LLM behind an OpenAI-compatible chat endpoint (``POST {url}/chat/completions``).

    Args:
        url: the API base, e.g. ``http://localhost:8000/v1``.
        model: the model name sent in the request.
        api_key: sent as a bearer token (default: ``$OPENAI_API_KEY`` if set).
        batch_size: candidates of one query per request.
        retries: attempts per request on connection errors, timeouts and 429/5xx answers (exponential
            backoff from ``backoff`` seconds).
        timeout: seconds per request.
        cache: JSONL file of answers (default ``<cache_dir>/judgments-cache.jsonl`` under
            ``$TRUENEG_CACHE``); ``False`` disables it.
    """

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        batch_size: int = 8,
        retries: int = 3,
        backoff: float = 1.0,
        timeout: float = 60.0,
        cache: str | os.PathLike | bool | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.batch_size = batch_size
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.cache = cache
        self.name = f"llm:{model}"
        self.requests = 0

    def _cache_path(self) -> Path | None:
        if self.cache is False:
            return None
        if self.cache in (None, True):
            from trueneg.candidates.cache import default_cache_dir

            return default_cache_dir() / "judgments-cache.jsonl"
        return Path(self.cache)

    def _key(self, item: JudgeItem) -> str:
        text = json.dumps([self.url, self.model, item.query, item.positive, item.candidate])
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def _load_cache(self, path: Path | None) -> dict[str, bool]:
        if path is None or not path.is_file():
            return {}
        cached = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                cached[record["key"]] = bool(record["relevant"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by an interruption
        return cached

    def judge(self, items: list[JudgeItem]) -> list[tuple[bool, float]]:
        path = self._cache_path()
        cached = self._load_cache(path)
        keys = [self._key(i) for i in items]
        todo = [n for n, k in enumerate(keys) if k not in cached]
        by_query: dict[tuple[str, str], list[int]] = {}
        for n in todo:
            by_query.setdefault((items[n].query, items[n].positive), []).append(n)
        for (query, positive), members in by_query.items():
            for start in range(0, len(members), self.batch_size):
                batch = members[start : start + self.batch_size]
                relevant = self._ask(query, positive, [items[n].candidate for n in batch])
                answers = {keys[n]: (slot + 1) in relevant for slot, n in enumerate(batch)}
                cached.update(answers)
                if path is not None:  # appended as answered: an interrupted run keeps what it paid for
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with open(path, "a", encoding="utf-8") as f:
                        f.writelines(json.dumps({"key": k, "relevant": v}) + "\n" for k, v in answers.items())
        return [(cached[k], 1.0 if cached[k] else 0.0) for k in keys]

    def _ask(self, query: str, positive: str, candidates: list[str]) -> set[int]:
        listing = "\n".join(f"[{n}] {text}" for n, text in enumerate(candidates, start=1))
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "user", "content": PROMPT.format(query=query, positive=positive, candidates=listing)}
            ],
        }
        answer = self._post(body)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"judge endpoint {self.url}: unexpected answer {str(answer)[:200]!r}") from None
        if re.search(r"\bnone\b", content, re.IGNORECASE) and not re.search(r"\d", content):
            return set()
        return {int(n) for n in re.findall(r"\d+", content) if 1 <= int(n) <= len(candidates)}

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: str = ""
        for attempt in range(self.retries):
            request = urllib.request.Request(f"{self.url}/chat/completions", data=data, headers=headers)
            try:
                self.requests += 1
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    raise ValueError(f"judge endpoint {self.url} refused the request ({last})") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc))
            except ValueError:
                raise ValueError(f"judge endpoint {self.url}: the answer is not JSON") from None
            if attempt + 1 < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise ValueError(f"judge endpoint {self.url} unreachable after {self.retries} attempts ({last})")


def parse_judge(spec: str) -> Judge:
    """A judge from ``cross-encoder:MODEL``, ``bi-encoder:MODEL`` or ``llm:URL#MODEL`` (the CLI's ``--judge``).

    Example:
        >>> parse_judge("llm:http://localhost:8000/v1#qwen").name
        'llm:qwen'
    """
    kind, _, rest = spec.partition(":")
    if kind == "cross-encoder" and rest:
        return CrossEncoderJudge(rest)
    if kind == "bi-encoder" and rest:
        return BiEncoderJudge(rest)
    if kind == "llm" and "#" in rest:
        url, _, model = rest.rpartition("#")
        return ChatJudge(url, model)
    raise ValueError(
        f"judge {spec!r}: expected cross-encoder:MODEL, bi-encoder:MODEL or llm:URL#MODEL "
        "(e.g. llm:http://localhost:8000/v1#my-model)"
    )


def run_cascade(
    items: list[JudgeItem],
    judges: list[Judge],
    budget: int | None = None,
    record: str | os.PathLike | None = None,
    show_progress: bool = False,
) -> tuple[np.ndarray, list[Judgment]]:
    """Pass ``items`` through ``judges`` in order; each judge sees only what the previous one flagged.

    ``budget`` caps how many items each judge after the first sees (the most probable first);
    items beyond it are not flagged. Returns the mask of items flagged by every judge and all the
    judgments, which ``record`` (a ``.jsonl`` path) receives as one line each, written atomically.
    """
    if not judges:
        raise ValueError("judges must name at least one judge")
    if budget is not None and budget < 0:
        raise ValueError(f"budget must be at least 0, got {budget}")
    alive = np.arange(len(items))
    judgments: list[Judgment] = []
    for stage, judge in enumerate(judges):
        if stage > 0 and budget is not None and len(alive) > budget:
            by_probability = np.argsort([-items[n].probability for n in alive], kind="stable")
            alive = np.sort(alive[by_probability[:budget]])
        if len(alive) == 0:
            break
        if show_progress:  # a judge (an LLM above all) can take minutes: say who is judging how much
            sys.stderr.write(f"Judge {stage + 1}/{len(judges)} ({judge.name}): {len(alive)} pairs ...\n")
        verdicts = judge.judge([items[n] for n in alive])
        judgments += [
            Judgment(items[n].query_id, items[n].doc_id, judge.name, bool(v), round(float(s), 6))
            for n, (v, s) in zip(alive, verdicts)
        ]
        alive = np.array([n for n, (v, _) in zip(alive, verdicts) if v], dtype=np.int64)
    flagged = np.zeros(len(items), dtype=bool)
    flagged[alive] = True
    if record is not None:
        with atomic_path(record) as tmp:
            tmp.write_text("".join(json.dumps(asdict(j)) + "\n" for j in judgments), encoding="utf-8")
    return flagged, judgments
