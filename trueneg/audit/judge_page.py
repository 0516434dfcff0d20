"""``trueneg judge``: fill a ``verify.jsonl`` by hand in a local page, or by machine with the judge cascade.

The page (:func:`serve`) runs on 127.0.0.1 only. It shows the query, its known positive(s) and the
candidate side by side; keys: ``1`` or ``r`` relevant, ``0`` or ``n`` not relevant, ``s`` or → skip,
``b`` or ← back. Every judgment is written to the file atomically as it is made (nothing is lost when
the page or the server is killed), and the page opens at the first unjudged row, so a person resumes
where they stopped. It shows progress and, once 30 rows are judged, a running estimate: the
design-weighted share of relevant pairs among those judged (the verified audit gives the intervals).

By machine (:func:`judge_file`): any judge of :mod:`trueneg.mining.judges` (cross-encoder,
bi-encoder, an OpenAI-compatible LLM) fills the empty judgments; ``judge`` records which one answered.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from trueneg.data.dataset import DataError
from trueneg.data.readers import read_jsonl
from trueneg.io import write_rows

REQUIRED = ("query_id", "doc_id", "query", "document", "inclusion_probability", "judgment")
MIN_FOR_ESTIMATE = 30


def load_sample(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a ``verify.jsonl``, checked to be one (errors name file, line and field)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (make one with trueneg audit DATA -o DIR --verify N)")
    if path.suffix.lower() != ".jsonl":
        raise DataError(f"{path}: the judging page reads and writes the .jsonl that trueneg audit --verify wrote")
    rows = []
    for number, record in read_jsonl(path):
        missing = [name for name in REQUIRED if name not in record]
        if missing:
            raise DataError(f"{path}:{number}: missing field {missing[0]!r} (is this a trueneg verify.jsonl?)")
        rows.append(record)
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def running_estimate(rows: list[dict[str, Any]]) -> float | None:
    """Design-weighted share of relevant pairs among the judged rows (None below :data:`MIN_FOR_ESTIMATE`)."""
    judged = [r for r in rows if r.get("judgment") in (0, 1)]
    if len(judged) < MIN_FOR_ESTIMATE:
        return None
    weight = np.array([1 / r["inclusion_probability"] for r in judged])
    y = np.array([r["judgment"] for r in judged], dtype=float)
    return float((weight * y).sum() / weight.sum())


class _Sample:
    """The rows in memory and the file they are saved to after every change (under a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = load_sample(path)
        self.lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        judged = sum(r.get("judgment") in (0, 1) for r in self.rows)
        first = next((i for i, r in enumerate(self.rows) if r.get("judgment") not in (0, 1)), len(self.rows))
        view = [{k: r.get(k) for k in ("query_id", "doc_id", "query", "document", "positives", "judgment")}
                for r in self.rows]  # fmt: skip
        return {"rows": view, "judged": judged, "total": len(self.rows), "first_unjudged": first,
                "estimate": running_estimate(self.rows), "min_for_estimate": MIN_FOR_ESTIMATE}  # fmt: skip

    def judge(self, index: int, value: int | None) -> dict[str, Any]:
        if not 0 <= index < len(self.rows):
            raise ValueError(f"row {index} is not in the sample (0..{len(self.rows) - 1})")
        if value not in (0, 1, None):
            raise ValueError("judgment must be 1, 0 or null")
        with self.lock:
            self.rows[index]["judgment"] = value
            self.rows[index]["judge"] = None if value is None else "person"
            write_rows(self.path, self.rows)  # atomic: the file is always whole
            return self.state()


def _handler(sample: _Sample) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/":
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif self.path == "/state":
                self._send(200, json.dumps(sample.state()).encode(), "application/json")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/judge":
                self._send(404, b"not found", "text/plain")
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                state = sample.judge(int(body["index"]), body.get("judgment"))
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, json.dumps({"error": str(exc)}).encode(), "application/json")
                return
            self._send(200, json.dumps(state).encode(), "application/json")

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL only
            pass

    return Handler


def serve(path: str | os.PathLike, port: int = 0) -> ThreadingHTTPServer:
    """A judging server for ``path`` on 127.0.0.1:``port`` (0: a free port); call ``serve_forever()`` on it.

    Example:
        >>> server = serve("audit/verify.jsonl")  # doctest: +SKIP
        >>> print(f"http://127.0.0.1:{server.server_address[1]}/")  # doctest: +SKIP
    """
    sample = _Sample(Path(path))
    return ThreadingHTTPServer(("127.0.0.1", port), _handler(sample))


def judge_file(
    path: str | os.PathLike, judges: list[Any], overwrite: bool = False, show_progress: bool = False
) -> dict[str, Any]:
    """Fill the empty judgments of ``path`` with the first of ``judges`` (all rows with ``overwrite``); atomic.

    The cascade's later judges re-check what the earlier ones flag relevant (as in ``mine --judge``).
    Returns how many rows were judged and how many came out relevant.
    """
    from trueneg.mining.judges import JudgeItem

    path = Path(path)
    rows = load_sample(path)
    todo = [i for i, r in enumerate(rows) if overwrite or r.get("judgment") not in (0, 1)]
    items = [JudgeItem(rows[i]["query_id"], rows[i]["doc_id"], rows[i]["query"], (rows[i].get("positives") or [""])[0],
                       rows[i]["document"], float(rows[i].get("probability") or 0.0)) for i in todo]  # fmt: skip
    verdict = np.ones(len(todo), dtype=bool)
    name = "+".join(j.name for j in judges)
    for stage, judge in enumerate(judges):
        open_items = [k for k in range(len(todo)) if verdict[k]]
        if show_progress and open_items:
            sys.stderr.write(f"Judge {stage + 1}/{len(judges)} ({judge.name}): {len(open_items)} pairs ...\n")
        answers = judge.judge([items[k] for k in open_items]) if open_items else []
        for k, (relevant, _) in zip(open_items, answers):
            verdict[k] = relevant
    for k, i in enumerate(todo):
        rows[i]["judgment"], rows[i]["judge"] = int(verdict[k]), name
    write_rows(path, rows)
    return {"file": str(path), "judged": len(todo), "relevant": int(verdict.sum()), "judge": name}


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>trueneg judge</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; color: #222; }
.cols { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 1rem; }
.box { border: 1px solid #ddd; border-radius: 8px; padding: 0.8rem; white-space: pre-wrap; max-height: 60vh;
       overflow: auto; }
.bar { height: 8px; background: #eee; border-radius: 4px; }
.bar div { height: 8px; background: #3a7; border-radius: 4px; }
kbd { border: 1px solid #aaa; border-radius: 3px; padding: 0 4px; }
#verdict.yes { color: #185; } #verdict.no { color: #a22; }
</style></head><body>
<h1>Is the candidate relevant to the query?</h1>
<p id="progress"></p><div class="bar"><div id="fill" style="width:0%"></div></div>
<p>Keys: <kbd>1</kbd>/<kbd>r</kbd> relevant, <kbd>0</kbd>/<kbd>n</kbd> not relevant, <kbd>s</kbd>/<kbd>&rarr;</kbd>
skip, <kbd>b</kbd>/<kbd>&larr;</kbd> back. Every judgment is saved to the file at once.</p>
<p>Row <span id="row"></span>: <b id="verdict"></b></p>
<div class="cols">
<div><h3>Query</h3><div class="box" id="query"></div></div>
<div><h3>Known positive</h3><div class="box" id="positive"></div></div>
<div><h3>Candidate</h3><div class="box" id="candidate"></div></div>
</div>
<p id="estimate"></p>
<script>
let state = null, at = 0;
function show() {
  const rows = state.rows;
  document.getElementById("progress").textContent =
    state.judged + " / " + state.total + " judged" + (at >= rows.length ? " - all rows seen" : "");
  document.getElementById("fill").style.width = (100 * state.judged / state.total) + "%";
  const e = state.estimate;
  document.getElementById("estimate").textContent = e === null
    ? "A running estimate appears after " + state.min_for_estimate + " judgments."
    : "Running estimate: " + (100 * e).toFixed(1) + "% of the sampled candidates are relevant (design-weighted); "
      + "the verified audit (--judgments) gives the intervals.";
  const r = rows[Math.min(at, rows.length - 1)];
  document.getElementById("row").textContent = (Math.min(at, rows.length - 1) + 1) + " of " + rows.length;
  document.getElementById("query").textContent = r.query;
  document.getElementById("positive").textContent = (r.positives || []).join("\\n\\n---\\n\\n");
  document.getElementById("candidate").textContent = r.document;
  const v = document.getElementById("verdict");
  v.textContent = r.judgment === 1 ? "relevant" : r.judgment === 0 ? "not relevant" : "not judged";
  v.className = r.judgment === 1 ? "yes" : r.judgment === 0 ? "no" : "";
}
async function load() {
  state = await (await fetch("/state")).json(); at = state.first_unjudged; show();
}
let saving = Promise.resolve();  // saves run one after another, in key order
function judge(value) {
  // the row is taken and the page moves on at the key press, not when the save returns: a second key
  // pressed while a save is in flight judges the next row (it re-judged this one and skipped the next)
  if (at >= state.rows.length) return;
  const index = at;
  state.rows[index].judgment = value;
  at = Math.min(at + 1, state.rows.length); show();
  saving = saving.then(async () => {
    const res = await fetch("/judge", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify({index: index, judgment: value})});
    if (!res.ok) { alert((await res.json()).error); return; }
    const saved = await res.json();
    saved.rows.forEach((r, i) => {  // judgments still on their way keep showing
      if (state.rows[i].judgment !== null && r.judgment === null) r.judgment = state.rows[i].judgment;
    });
    state = saved; show();
  });
}
document.addEventListener("keydown", (ev) => {
  const k = ev.key;
  if (k === "1" || k === "r") judge(1);
  else if (k === "0" || k === "n") judge(0);
  else if (k === "s" || k === "ArrowRight") { at = Math.min(at + 1, state.rows.length); show(); }
  else if (k === "b" || k === "ArrowLeft") { at = Math.max(at - 1, 0); show(); }
});
load();
</script></body></html>
"""
