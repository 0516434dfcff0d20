"""Contrastive losses that know about false negatives, as plain torch functions on embeddings.

Shapes: ``queries`` ``(B, d)``, ``positives`` ``(B, d)``, ``negatives`` ``(B, M, d)`` (mined hard
negatives, M may be 0). The candidate set of every query is all positives and all mined negatives
of the batch (in-batch negatives plus mined ones, as in multiple-negatives ranking), scored by
``scale * cosine``; the target of query ``i`` is positive ``i``.

Every loss returns the mean over the batch, or with ``weights`` ``(B,)`` the weighted mean
``sum(w * loss) / sum(w)``: a pair whose positive is only *probably* relevant (an inferred positive
with the detector's probability ``p``) then counts ``p`` times as much as a labeled pair.
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


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of per-pair ``losses``, or ``sum(w * loss) / sum(w)`` with ``weights``."""
    if weights is None:
        return losses.mean()
    weights = weights.to(losses.dtype)
    return (weights * losses).sum() / weights.sum().clamp(min=1e-12)


def info_nce(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    scale: float = 20.0,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multiple-negatives ranking loss (InfoNCE) with in-batch and mined negatives."""
    scores = candidate_scores(queries, positives, negatives, scale)
    target = torch.arange(len(queries), device=scores.device)
    return weighted_mean(F.cross_entropy(scores, target, reduction="none"), weights)


def false_negative_masked_info_nce(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    guide_scores: torch.Tensor | None = None,
    margin: float = 0.0,
    scale: float = 20.0,
    negative_probabilities: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE whose denominator drops the candidates that are likely false negatives.

    Two ways to say which, used together when both are given:

    - ``guide_scores``: the ``(B, B + B*M)`` similarity of a guide model in the layout of
      :func:`candidate_scores` (unscaled); without it (and without probabilities) the model's own
      detached cosine is the guide. Candidate ``j`` of query ``i`` is removed when
      ``guide[i, j] > guide[i, i] - margin``: a document the guide finds at least as relevant as
      the labeled positive is likely a false negative.
    - ``negative_probabilities``: ``(B, M)``, the false-negative detector's probability that each
      of a query's own mined negatives is a missing positive (``neg_probability`` of `trueneg
      mine`). Negative ``m`` of query ``i`` enters the denominator with weight ``1 - p``: a soft
      mask, ``p = 1`` removes it, ``p = 0`` keeps it whole. In-batch candidates carry no probability.

    The positive itself is never removed.
    """
    scores = candidate_scores(queries, positives, negatives, scale)
    n, m = len(queries), negatives.shape[1]
    target = torch.arange(n, device=scores.device)
    if guide_scores is not None or negative_probabilities is None:
        guide = scores.detach() / scale if guide_scores is None else guide_scores
        suspect = guide > (guide[target, target] - margin)[:, None]
        suspect[target, target] = False
        scores = scores.masked_fill(suspect, float("-inf"))
    if negative_probabilities is not None:
        if negative_probabilities.shape != (n, m):
            raise ValueError(f"negative_probabilities must be {(n, m)}, got {tuple(negative_probabilities.shape)}")
        keep = (1.0 - negative_probabilities.to(scores.dtype)).clamp(0.0, 1.0)
        own = n + target[:, None] * m + torch.arange(m, device=scores.device)[None, :]
        scores = scores.scatter_add(1, own, torch.log(keep))
    return weighted_mean(F.cross_entropy(scores, target, reduction="none"), weights)


def check_debiased(class_prior: float, debias_temperature: float | None) -> None:
    """Raise ``ValueError`` unless ``class_prior`` is in [0, 1) and ``debias_temperature`` is None or > 0."""
    if not 0.0 <= class_prior < 1.0:
        raise ValueError(f"class_prior must be in [0, 1), got {class_prior}")
    if debias_temperature is not None and not debias_temperature > 0:
        raise ValueError(f"debias_temperature must be > 0, got {debias_temperature}")


def _debiased_terms(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    class_prior: float,
    scale: float,
    debias_temperature: float | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scaled positive score, log N, log of the corrected negative mean before the clamp) per query."""
    check_debiased(class_prior, debias_temperature)
    debias_scale = scale if debias_temperature is None else 1.0 / debias_temperature
    cosine = candidate_scores(queries, positives, negatives, 1.0)
    target = torch.arange(len(queries), device=cosine.device)
    off = ~torch.eye(len(queries), cosine.shape[1], dtype=torch.bool, device=cosine.device)
    log_n = torch.log(off.sum(dim=1).to(cosine.dtype))

    def log_mean(s: float) -> torch.Tensor:  # log of the mean e^{s cos} over the negatives, without overflow
        return torch.logsumexp((s * cosine).masked_fill(~off, float("-inf")), dim=1) - log_n

    ratio = torch.exp(debias_scale * cosine[target, target] - log_mean(debias_scale))
    share = (1.0 - class_prior * ratio) / (1 - class_prior)
    log_share = torch.where(share > 0, torch.log(share.clamp(min=1e-30)), torch.full_like(share, -math.inf))
    return scale * cosine[target, target], log_n, log_mean(scale) + log_share


def debiased_contrastive(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    class_prior: float = 0.1,
    scale: float = 20.0,
    debias_temperature: float | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Debiased contrastive loss (Chuang et al., 2020) with class prior ``tau_plus = class_prior``.

    Negatives are drawn from data that holds positives with probability ``tau_plus`` (e.g. the
    audit's estimated false-negative rate). Chuang et al. correct the negative term to
    ``N * max((mean_neg e^s - tau_plus e^{s_pos}) / (1 - tau_plus), e^{-scale})``. At the scale
    sentence-transformers models are trained with (20, temperature 0.05) ``e^{s_pos}`` dwarfs the
    negatives' mean, the bracket is negative for most queries, the clamp takes over and those
    queries stop learning (:func:`debiased_clamped_share`). So the share of the negative mass that
    is truly negative, ``r = (1 - tau_plus e^{s'_pos} / mean_neg e^{s'}) / (1 - tau_plus)``, is
    estimated at its own temperature (``s' = cosine / debias_temperature``; 0.5 as in Chuang et
    al.) and multiplies the negative term at ``scale``: ``N * max(mean_neg e^s * r, e^{-scale})``.
    ``debias_temperature=None`` (the default here) estimates it at ``1 / scale``, which is exactly
    the published loss; :func:`trueneg.training.train` and ``trueneg train`` use 0.5.
    """
    pos, log_n, log_corrected = _debiased_terms(queries, positives, negatives, class_prior, scale, debias_temperature)
    losses = torch.logaddexp(pos, log_n + torch.clamp(log_corrected, min=-scale)) - pos
    return weighted_mean(losses, weights)


def debiased_clamped_share(
    queries: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    class_prior: float,
    scale: float = 20.0,
    debias_temperature: float | None = None,
) -> float:
    """Share of the queries whose debiased negative term sits at the clamp, where the loss stops learning."""
    with torch.no_grad():
        _, _, log_corrected = _debiased_terms(queries, positives, negatives, class_prior, scale, debias_temperature)
    return float((log_corrected < -scale).float().mean())


def soft_label_distillation(
    student_scores: torch.Tensor,
    teacher_scores: torch.Tensor,
    temperature: float = 1.0,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL(teacher || student) between score distributions over each query's (positive, negatives).

    Both are ``(B, 1 + M)`` with the positive first, e.g. the ``pos_scores``/``neg_scores`` soft
    labels that ``trueneg mine --teacher`` writes; scaled by ``temperature ** 2`` as usual.
    """
    teacher = F.softmax(teacher_scores / temperature, dim=-1)
    log_student = F.log_softmax(student_scores / temperature, dim=-1)
    per_pair = F.kl_div(log_student, teacher, reduction="none").sum(dim=-1)
    return weighted_mean(per_pair, weights) * temperature**2
