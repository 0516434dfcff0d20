"""Fingerprints of what ``trueneg mine`` and ``trueneg audit`` write, to prove a refactor changes no output.

Runs the CLI over a matrix (the bundled demo and SciFact train; every output format; with and
without ``--max-fn-rate``; in memory and streamed through ``--index exact``; the audit in memory and
streamed) and writes one JSON object: for each run the SHA-256 of the rows, of the sidecar and of the
summary with its ``seconds`` removed (the only field that measures the machine).

    python scripts/output_snapshot.py before.json      # on the old commit
    python scripts/output_snapshot.py after.json       # on the new one
    python scripts/output_snapshot.py --compare before.json after.json

SciFact needs ``../shared/data/scifact``; its embeddings are read from the cache after the first run.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRUENEG = [sys.executable, "-m", "trueneg"]
DATA = {"demo": ROOT / "trueneg" / "data" / "demo", "scifact": ROOT.parent / "shared" / "data" / "scifact"}
FORMATS = ("flagembedding", "triplet", "n-tuple", "labeled-list")


def _strip(value: object) -> object:
    """The summary without what measures the machine (*seconds) or names this checkout (output, the tree path)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.endswith("seconds") and k != "output"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value.replace(str(ROOT), "<tree>") if isinstance(value, str) else value


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _summary(text: str) -> str:
    return hashlib.sha256(json.dumps(_strip(json.loads(text))).encode()).hexdigest()  # key order counts too


def snapshot() -> dict[str, dict[str, str | None]]:
    out: dict[str, dict[str, str | None]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in DATA.items():
            for fmt in FORMATS:
                for fn in ((), ("--max-fn-rate", "0.05")):
                    for path in ((), ("--index", "exact")):
                        key = f"mine {name} {fmt} {'fn' if fn else 'nofn'} {'streamed' if path else 'memory'}"
                        target = Path(tmp) / f"{len(out)}.jsonl"
                        run = subprocess.run([*TRUENEG, "mine", str(data), "-o", str(target), "-f", fmt, *fn, *path,
                                              "--json", "-q"], capture_output=True, text=True, check=True)  # fmt: skip
                        side = target.with_name(f"{target.stem}.trueneg-extra.jsonl")
                        out[key] = {"rows": _digest(target), "summary": _summary(run.stdout), "sidecar": _digest(side)}
                        print(key, out[key]["rows"][:12], flush=True)
            for path in ((), ("--index", "exact")):
                key = f"audit {name} {'streamed' if path else 'memory'}"
                folder = Path(tmp) / f"audit{len(out)}"
                run = subprocess.run([*TRUENEG, "audit", str(data), "-o", str(folder), *path, "--json", "-q"],
                                     capture_output=True, text=True, check=True)  # fmt: skip
                written = _summary((folder / "audit.json").read_text())
                out[key] = {"audit.json": written, "summary": _summary(run.stdout)}
                print(key, out[key]["audit.json"][:12], flush=True)
    return out


def main() -> int:
    if sys.argv[1] == "--compare":
        before, after = (json.loads(Path(p).read_text()) for p in sys.argv[2:4])
        differ = [k for k in before if before[k] != after.get(k)]
        for key in differ:
            print("differs:", key, before[key], after.get(key))
        print(f"{len(before) - len(differ)} of {len(before)} runs identical")
        return 1 if differ else 0
    Path(sys.argv[1]).write_text(json.dumps(snapshot(), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
