"""False-negative-aware contrastive losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from trueneg.training import (
    candidate_scores,
    debiased_contrastive,
    false_negative_masked_info_nce,
    info_nce,
    soft_label_distillation,
)

Q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
P = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
N = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]])
R = 1 / math.sqrt(2)
# cosines: q0 -> [p0, p1, n0, n1] = [1, r, 0, 1]; q1 -> [0, r, 1, 0]
COS = [[1.0, R, 0.0, 1.0], [0.0, R, 1.0, 0.0]]


def _nll(row: list[float], target: int, keep: list[int] | None = None) -> float:
    keep = keep if keep is not None else list(range(len(row)))
    return -(row[target] - math.log(sum(math.exp(row[j]) for j in keep)))


def test_candidate_scores_layout() -> None:
    assert torch.allclose(candidate_scores(Q, P, N, scale=1.0), torch.tensor(COS), atol=1e-6)


def test_info_nce() -> None:
    expected = (_nll(COS[0], 0) + _nll(COS[1], 1)) / 2
    assert info_nce(Q, P, N, scale=1.0).item() == pytest.approx(expected, rel=1e-5)


def test_false_negative_masking() -> None:
    # margin 0: q0's n1 ties its positive (kept: only strictly higher is removed); q1's n0 (1 > r) goes
    expected = (_nll(COS[0], 0) + _nll(COS[1], 1, [0, 1, 3])) / 2
    assert false_negative_masked_info_nce(Q, P, N, margin=0.0, scale=1.0).item() == pytest.approx(expected, rel=1e-5)
    # margin 0.01: q0 drops n1 (cosine 1 = its positive's); q1 drops n0 (1 > r - 0.01)
    expected = (_nll(COS[0], 0, [0, 1, 2]) + _nll(COS[1], 1, [0, 1, 3])) / 2
    assert false_negative_masked_info_nce(Q, P, N, margin=0.01, scale=1.0).item() == pytest.approx(expected, rel=1e-5)
    # a guide that finds p0 relevant to q1 masks it for q1 only
    guide = torch.tensor([[0.9, 0.1, 0.1, 0.1], [0.95, 0.9, 0.1, 0.1]])
    expected = (_nll(COS[0], 0) + _nll(COS[1], 1, [1, 2, 3])) / 2
    assert false_negative_masked_info_nce(Q, P, N, guide_scores=guide, scale=1.0).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_debiased_contrastive() -> None:
    tau = 0.1

    def one(row: list[float], target: int) -> float:
        negs = [math.exp(s) for j, s in enumerate(row) if j != target]
        corrected = max((sum(negs) / len(negs) - tau * math.exp(row[target])) / (1 - tau), math.exp(-1.0))
        return -math.log(math.exp(row[target]) / (math.exp(row[target]) + len(negs) * corrected))

    expected = (one(COS[0], 0) + one(COS[1], 1)) / 2
    assert debiased_contrastive(Q, P, N, class_prior=tau, scale=1.0).item() == pytest.approx(expected, rel=1e-5)
    # prior 0 is InfoNCE with the positive kept in the denominator, i.e. InfoNCE itself
    assert debiased_contrastive(Q, P, N, class_prior=0.0, scale=1.0).item() == pytest.approx(
        info_nce(Q, P, N, scale=1.0).item(), rel=1e-5
    )
    with pytest.raises(ValueError, match="class_prior"):
        debiased_contrastive(Q, P, N, class_prior=1.0)


def test_soft_label_distillation() -> None:
    student = torch.tensor([[2.0, 1.0, 0.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0]])

    def softmax(xs: list[float]) -> list[float]:
        z = sum(math.exp(x) for x in xs)
        return [math.exp(x) / z for x in xs]

    t, s = softmax([1.0, 1.0, 0.0]), softmax([2.0, 1.0, 0.0])
    expected = sum(ti * math.log(ti / si) for ti, si in zip(t, s))
    assert soft_label_distillation(student, teacher).item() == pytest.approx(expected, rel=1e-5)
    assert soft_label_distillation(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)
    t2, s2 = softmax([0.5, 0.5, 0.0]), softmax([1.0, 0.5, 0.0])
    expected_t2 = 4 * sum(ti * math.log(ti / si) for ti, si in zip(t2, s2))
    assert soft_label_distillation(student, teacher, temperature=2.0).item() == pytest.approx(expected_t2, rel=1e-5)
