"""The embedding cache is keyed by the model's content: a copied, moved or reinstalled model re-encodes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from trueneg.candidates.encoders import SentenceTransformerEncoder, resolve_model


def test_a_model_copied_to_another_path_reuses_the_cache(tmp_path: Path) -> None:
    original = tmp_path / "venv-a" / "model"
    shutil.copytree(resolve_model(None), original)
    texts = ["a claim about cells", "another claim about proteins", "a third text"]
    first = SentenceTransformerEncoder(str(original), cache_dir=tmp_path / "cache", show_progress=False)
    vectors = first.encode(texts, "document")
    assert first.encoded_count == 3
    moved = tmp_path / "venv-b" / "site-packages" / "model"
    shutil.copytree(original, moved)  # a reinstall: the same bytes at another path, new modification times
    shutil.rmtree(original)
    second = SentenceTransformerEncoder(str(moved), cache_dir=tmp_path / "cache", show_progress=False)
    assert np.array_equal(second.encode(texts, "document"), vectors)
    assert second.encoded_count == 0 and second._impl is None  # read from the cache: the model never loaded
    before = second.identity("document")
    (moved / "config.json").write_text((moved / "config.json").read_text() + "\n")  # other bytes: another model
    third = SentenceTransformerEncoder(str(moved), cache_dir=tmp_path / "cache", show_progress=False)
    assert third.identity("document") != before
