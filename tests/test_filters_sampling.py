"""Filters, sampling and fusion on small hand-checked arrays."""

from __future__ import annotations

import numpy as np
import pytest

from trueneg.candidates.hybrid import reciprocal_rank_fusion
from trueneg.candidates.pool import group_by_query
from trueneg.mining.filters import (
    anchor_scores,
    member_of,
    near_duplicates,
    tfidf_matrix,
    topk_abs,
    topk_margin_pos,
    topk_perc_pos,
)
from trueneg.mining.sampling import sample_negatives


def test_anchor_is_minimum_positive() -> None:
    assert anchor_scores([np.array([0.9, 0.6]), np.array([0.5])]).tolist() == pytest.approx([0.6, 0.5])


def test_positive_aware_filters() -> None:
    scores = np.array([[0.80, 0.76, 0.50], [-0.10, -0.30, -0.45]])
    anchor = np.array([0.80, -0.40])
    assert topk_abs(scores, 0.7).tolist() == [[True, True, False], [False, False, False]]
    assert topk_margin_pos(scores, anchor, 0.05).tolist() == [[True, True, False], [True, True, False]]
    # perc 0.95: threshold 0.76 for anchor 0.8; for anchor -0.4 it is -0.42 (below the anchor, sign-safe)
    assert topk_perc_pos(scores, anchor, 0.95).tolist() == [[True, False, False], [True, True, False]]
    with pytest.raises(ValueError, match="perc_pos"):
        topk_perc_pos(scores, anchor, 1.5)


def test_member_of_and_group_by_query() -> None:
    sets = group_by_query(np.array([0, 0]), np.array([3, 5]), n_queries=2)
    assert sets.tolist() == [[3, 5], [-1, -1]]
    assert group_by_query(np.array([1, 0, 1]), np.array([7, 8, 9]), 3).tolist() == [[8, -1], [7, 9], [-1, -1]]
    cand = np.array([[5, 1, -1], [3, -1, 2]])
    assert member_of(cand, sets).tolist() == [[True, False, False], [False, False, False]]


def test_near_duplicates_lexical() -> None:
    texts = ["the cat sat on the mat today", "the cat sat on the mat today!", "quantum chromodynamics lattice"]
    vectors = tfidf_matrix(texts)
    mask = near_duplicates(np.array([[1, 2]]), np.array([[0]]), vectors, 0.9)
    assert mask.tolist() == [[True, False]]


def test_top_sampling_respects_order_and_pads() -> None:
    ok = np.array([[True, False, True, True], [False, False, True, False]])
    out = sample_negatives(ok, np.zeros((2, 4)), np.zeros(2), n=2)
    assert out.tolist() == [[0, 2], [2, -1]]


def test_random_sampling_is_seeded_and_uniform() -> None:
    ok = np.ones((4000, 10), dtype=bool)
    a = sample_negatives(ok, np.zeros((4000, 10)), np.zeros(4000), 2, "random", seed=3)
    b = sample_negatives(ok, np.zeros((4000, 10)), np.zeros(4000), 2, "random", seed=3)
    assert np.array_equal(a, b)
    counts = np.bincount(a.ravel(), minlength=10) / a.size
    assert np.allclose(counts, 0.1, atol=0.02)
    assert (a[:, 0] < a[:, 1]).all()  # returned in hardness order, no repeats


def test_simans_prefers_scores_near_positive() -> None:
    q = 3000
    scores = np.tile(np.array([0.79, 0.70, 0.40, 0.10]), (q, 1))
    anchor = np.full(q, 0.8)
    out = sample_negatives(
        np.ones((q, 4), dtype=bool), scores, anchor, 1, "simans", simans_a=50.0, simans_b=-0.1, seed=0
    )
    freq = np.bincount(out.ravel(), minlength=4) / q
    weights = np.exp(-50.0 * (scores[0] - 0.8 + 0.1) ** 2)
    assert freq == pytest.approx(weights / weights.sum(), abs=0.03)
    assert freq.argmax() == 1  # the peak sits b below the positive


def test_rrf() -> None:
    scores, docs = reciprocal_rank_fusion([np.array([[0, 1, 2]]), np.array([[2, 1, 0]])], k=4)
    assert docs.tolist() == [[0, 2, 1, -1]]
    assert scores[0, 0] == pytest.approx(1 / 61 + 1 / 63)
    assert scores[0, 2] == pytest.approx(2 / 62)
