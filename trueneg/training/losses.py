"""Contrastive losses that know about false negatives, as plain torch functions on embeddings.

Shapes: ``queries`` ``(B, d)``, ``positives`` ``(B, d)``, ``negatives`` ``(B, M, d)`` (mined hard
negatives, M may be 0). The candidate set of every query is all positives and all mined negatives
of the batch (in-batch negatives plus mined ones, as in multiple-negatives ranking), scored by
``scale * cosine``; the target of query ``i`` is positive ``i``. All return the batch mean.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def candidate_scores(
    queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, scale: float = 20.0
) -> torch.Tensor:
    """``(B, B + B*M)`` scaled cosine of each query to every positive, then every mined negative."""
    docs = torch.cat([positives, negatives.reshape(-1, negatives.shape[-1])], dim=0)
    return scale * F.normalize(queries, dim=-1) @ F.normalize(docs, dim=-1).T


def info_nce(
    queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, scale: float = 20.0
) -> torch.Tensor:
    """Multiple-negatives ranking loss (InfoNCE) with in-batch and mined negatives."""
    scores = candidate_scores(queries, positives, negatives, scale)
    return F.cross_entropy(scores, torch.arange(len(queries), device=scores.device))


def false_negative_masked_info_nce(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    guide_scores: torch.Tensor | None = None,
    margin: float = 0.0,
    scale: float = 20.0,
) -> torch.Tensor:
    """InfoNCE whose denominator drops candidates the guide scores above ``positive - margin``.

    ``guide_scores`` is the ``(B, B + B*M)`` similarity of a guide/teacher model in the layout of
    :func:`candidate_scores` (unscaled); without it the model's own detached cosine is the guide.
    A candidate ``j`` of query ``i`` is removed when ``guide[i, j] > guide[i, i] - margin``: a
    document the guide finds at least as relevant as the labeled positive is likely a false
    negative. The positive itself is never removed.
    """
    scores = candidate_scores(queries, positives, negatives, scale)
    guide = scores.detach() / scale if guide_scores is None else guide_scores
    target = torch.arange(len(queries), device=scores.device)
    suspect = guide > (guide[target, target] - margin)[:, None]
    suspect[target, target] = False
    return F.cross_entropy(scores.masked_fill(suspect, float("-inf")), target)


def debiased_contrastive(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    class_prior: float = 0.1,
    scale: float = 20.0,
) -> torch.Tensor:
    """Debiased contrastive loss (Chuang et al., 2020) with class prior ``tau_plus = class_prior``.

    Negatives are drawn from data that holds positives with probability ``tau_plus`` (e.g. the
    audit's estimated false-negative rate); the negative term is corrected to
    ``N * max((mean_neg e^s - tau_plus e^{s_pos}) / (1 - tau_plus), e^{-scale})``.
    """
    if not 0.0 <= class_prior < 1.0:
        raise ValueError(f"class_prior must be in [0, 1), got {class_prior}")
    scores = candidate_scores(queries, positives, negatives, scale)
    target = torch.arange(len(queries), device=scores.device)
    pos = scores[target, target]
    off = ~torch.eye(len(queries), scores.shape[1], dtype=torch.bool, device=scores.device)
    neg_exp = torch.exp(scores).masked_fill(~off, 0.0)
    n_neg = off.sum(dim=1)
    corrected = (neg_exp.sum(dim=1) / n_neg - class_prior * torch.exp(pos)) / (1 - class_prior)
    corrected = torch.clamp(corrected, min=math.exp(-scale))
    return (-torch.log(torch.exp(pos) / (torch.exp(pos) + n_neg * corrected))).mean()


def soft_label_distillation(
    student_scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """KL(teacher || student) between score distributions over each query's (positive, negatives).

    Both are ``(B, 1 + M)`` with the positive first, e.g. the ``pos_scores``/``neg_scores`` soft
    labels that ``trueneg mine --teacher`` writes; scaled by ``temperature ** 2`` as usual.
    """
    teacher = F.softmax(teacher_scores / temperature, dim=-1)
    log_student = F.log_softmax(student_scores / temperature, dim=-1)
    return F.kl_div(log_student, teacher, reduction="batchmean") * temperature**2
