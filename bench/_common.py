"""Helpers shared by the benchmarks: machine description, timed subprocesses, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "data"

sys.path.insert(0, str(ROOT))
from trueneg.io import atomic_path, write_json  # noqa: E402

_PEAK = (
    "import resource, subprocess, sys, json, time;"
    "t=time.perf_counter(); rc=subprocess.run(sys.argv[1:]).returncode; t=time.perf_counter()-t;"
    "peak=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024;"
    "print(json.dumps({'rc': rc, 'seconds': t, 'peak_mb': peak}))"
)


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory and GPU presence of this machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        None,
    )
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        gpu = None
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_mb": mem, "gpu": gpu, "python": platform.python_version()}


def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` as a child of a fresh wrapper process; wall seconds, the child's peak RSS (MB) and its stdout."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, *cmd],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    *printed, last = out.stdout.strip().splitlines()
    result = {**json.loads(last), "stdout": "\n".join(printed)}
    if result["rc"] != 0:
        raise RuntimeError(f"command failed ({result['rc']}): {' '.join(cmd)}")
    return result


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def save(name: str, payload: dict[str, Any], table: str) -> None:
    """Write ``bench/results/<name>.json`` and ``<name>.md`` atomically."""
    payload = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": "python " + " ".join([Path(sys.argv[0]).resolve().relative_to(ROOT).as_posix(), *sys.argv[1:]]),
        **payload,
    }
    write_json(RESULTS / f"{name}.json", payload)
    m = payload["machine"]
    header = (
        f"# {name}\n\nCommand: `{payload['command']}`  \nDate: {payload['date']}  \n"
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_mb']} MB RAM, GPU: {m['gpu'] or 'none'}\n\n"
    )
    with atomic_path(RESULTS / f"{name}.md") as tmp:
        tmp.write_text(header + table + "\n", encoding="utf-8")


def now() -> float:
    return time.perf_counter()


def st_negatives(model: Any, data: Any, cache: str, num_negatives: int = 10) -> list[tuple[str, str]]:
    """(query text, negative text) pairs from sentence-transformers' miner, relative margin 0.05."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    pairs = {"query": [], "positive": []}
    for q, docs in data.qrels.items():
        for d, g in docs.items():
            if g > 0:
                pairs["query"].append(data.query_texts[data.query_index(q)])
                pairs["positive"].append(data.doc_texts[data.doc_index(d)])
    mined = mine_hard_negatives(
        Dataset.from_dict(pairs),
        model,
        corpus=list(data.doc_texts),
        num_negatives=num_negatives,
        relative_margin=0.05,
        sampling_strategy="top",
        use_faiss=True,
        output_format="triplet",
        cache_folder=cache,
        verbose=False,
    )
    return list({(row["query"], row["negative"]) for row in mined})


def st_cache_file(model: Any, kind: str, texts: list[str], folder: str | os.PathLike) -> Path:
    """The file ``mine_hard_negatives(cache_folder=folder)`` reads ``kind`` ("query" or "corpus") embeddings of
    ``texts`` from (named as it names them: model name, no prompt), so a bench can hand it vectors it already has."""
    import hashlib

    name = model.model_card_data.base_model or ""
    digest = hashlib.sha256(repr((name, None, None, texts)).encode()).hexdigest()
    return Path(folder) / f"{kind}_embeddings_{digest}.npy"


def interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences with its Student-t interval: ``(mean, low, high)`` (NaN bounds for one value)."""
    import statistics

    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half
