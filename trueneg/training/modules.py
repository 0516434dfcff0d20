"""The losses of :mod:`trueneg.training.losses` as modules for the sentence-transformers trainer.

Every module takes the columns ``(anchor, positive, negative_1, ..., negative_n)`` (n may be 0:
in-batch negatives only) like sentence-transformers' ``MultipleNegativesRankingLoss``; the
distillation loss also needs a ``label`` column with the soft-label scores (positive first).

Extra per-row values travel in the ``label`` column, in this order: the pair's weight when the
module is built with ``weighted=True`` (e.g. an inferred positive's probability; the loss is the
weighted mean), then the mined negatives' false-negative probabilities for
``FalseNegativeMaskedLoss(probabilities=True)``, then the soft labels for distillation.

Example:
    >>> from sentence_transformers import SentenceTransformer  # doctest: +SKIP
    >>> model = SentenceTransformer("all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> loss = DebiasedContrastiveLoss(model, class_prior=0.03)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from trueneg.training.losses import (
    candidate_scores,
    check_debiased,
    debiased_contrastive,
    false_negative_masked_info_nce,
    info_nce,
    soft_label_distillation,
)


class _ContrastiveLoss(nn.Module):
    """Embed the anchor, positive and negative columns, then apply :meth:`loss`."""

    def __init__(self, model: nn.Module, scale: float = 20.0, weighted: bool = False) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.weighted = weighted

    def embed(
        self, sentence_features: Iterable[dict[str, Tensor]], model: nn.Module | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(queries, positives, negatives ``(B, n, d)``) embedded by ``model`` (default: the student)."""
        embeddings = [(model or self.model)(features)["sentence_embedding"] for features in sentence_features]
        if len(embeddings) < 2:
            raise ValueError(f"expected anchor and positive columns at least, got {len(embeddings)} column(s)")
        queries, positives, *negatives = embeddings
        if negatives:
            stacked = torch.stack(negatives, dim=1)
        else:
            stacked = queries.new_zeros((len(queries), 0, queries.shape[-1]))
        return queries, positives, stacked

    def split_labels(self, labels: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """(pair weights or ``None``, the rest of the ``label`` column or ``None``)."""
        if not self.weighted:
            return None, labels
        if labels is None or labels.dim() != 2:
            raise ValueError("a weighted loss needs a 'label' column whose first value is the pair's weight")
        rest = labels[:, 1:]
        return labels[:, 0], rest if rest.shape[1] else None

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        weights, labels = self.split_labels(labels)
        return self.loss(*self.embed(sentence_features), labels, weights)

    def loss(
        self, queries: Tensor, positives: Tensor, negatives: Tensor, labels: Tensor | None, weights: Tensor | None
    ) -> Tensor:
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "weighted": self.weighted}


class MultipleNegativesRankingLoss(_ContrastiveLoss):
    """InfoNCE over in-batch plus mined negatives (see :func:`~trueneg.training.losses.info_nce`)."""

    def loss(
        self, queries: Tensor, positives: Tensor, negatives: Tensor, labels: Tensor | None, weights: Tensor | None
    ) -> Tensor:
        return info_nce(queries, positives, negatives, self.scale, weights)


class FalseNegativeMaskedLoss(_ContrastiveLoss):
    """InfoNCE without the candidates that are likely false negatives.

    ``guide`` is a frozen model that shares the student's tokenizer (e.g. a copy of the model before
    training) and removes the candidates it scores above ``positive - margin``. With
    ``probabilities=True`` the ``label`` column carries each mined negative's false-negative
    probability (``neg_probability`` of `trueneg mine`) and negative ``m`` counts ``1 - p_m`` in
    the denominator (a guide, when also given, still masks). With neither, the student's own
    detached scores decide (no extra cost).
    """

    def __init__(
        self,
        model: nn.Module,
        margin: float = 0.0,
        guide: nn.Module | None = None,
        scale: float = 20.0,
        probabilities: bool = False,
        weighted: bool = False,
    ):
        super().__init__(model, scale, weighted)
        self.margin = margin
        self.guide = guide
        self.probabilities = probabilities
        if guide is not None:
            guide.requires_grad_(False)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        sentence_features = list(sentence_features)
        weights, labels = self.split_labels(labels)
        guide_scores = None
        if self.guide is not None:
            with torch.no_grad():
                guide_scores = candidate_scores(*self.embed(sentence_features, self.guide), scale=1.0)
        queries, positives, negatives = self.embed(sentence_features)
        probs = None
        if self.probabilities:
            if labels is None or labels.dim() != 2 or labels.shape[1] < negatives.shape[1]:
                raise ValueError(
                    "probabilities=True needs a 'label' column with one false-negative probability per mined "
                    "negative; mine with a detector (max_fn_rate or fn_action) so rows carry neg_probability"
                )
            probs = labels[:, : negatives.shape[1]]
        return false_negative_masked_info_nce(
            queries, positives, negatives, guide_scores, self.margin, self.scale, probs, weights
        )

    def get_config_dict(self) -> dict[str, Any]:
        guide = "frozen model" if self.guide else ("probabilities" if self.probabilities else "self")
        return {"scale": self.scale, "margin": self.margin, "guide": guide, "weighted": self.weighted}


class DebiasedContrastiveLoss(_ContrastiveLoss):
    """Debiased contrastive loss with class prior ``tau_plus`` (e.g. the audit's ``estimated_fn_rate``).

    ``debias_temperature``: see :func:`~trueneg.training.losses.debiased_contrastive` (``None``, the
    default, is the published loss, which clamps at scale 20; ``trueneg train`` passes 0.5).
    """

    def __init__(
        self,
        model: nn.Module,
        class_prior: float = 0.1,
        scale: float = 20.0,
        debias_temperature: float | None = None,
        weighted: bool = False,
    ):
        super().__init__(model, scale, weighted)
        check_debiased(class_prior, debias_temperature)
        self.class_prior = class_prior
        self.debias_temperature = debias_temperature

    def loss(
        self, queries: Tensor, positives: Tensor, negatives: Tensor, labels: Tensor | None, weights: Tensor | None
    ) -> Tensor:
        return debiased_contrastive(
            queries, positives, negatives, self.class_prior, self.scale, self.debias_temperature, weights
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "class_prior": self.class_prior,
            "debias_temperature": self.debias_temperature,
            "weighted": self.weighted,
        }


class SoftLabelDistillationLoss(_ContrastiveLoss):
    """KL from the soft labels to the student's scores over (positive, negatives), plus InfoNCE.

    ``labels`` are the ``(B, 1 + n)`` teacher scores that `trueneg mine` writes (positive first);
    both sides are multiplied by ``scale`` (teacher scores are cosine-like; pass ``teacher_scale``
    for logits of another range) and softened by ``temperature``. ``contrastive_weight`` adds the
    InfoNCE term so the in-batch negatives still teach (0 = pure distillation).
    """

    def __init__(
        self,
        model: nn.Module,
        temperature: float = 1.0,
        contrastive_weight: float = 1.0,
        teacher_scale: float | None = None,
        scale: float = 20.0,
        weighted: bool = False,
    ):
        super().__init__(model, scale, weighted)
        self.temperature = temperature
        self.contrastive_weight = contrastive_weight
        self.teacher_scale = scale if teacher_scale is None else teacher_scale

    def loss(
        self, queries: Tensor, positives: Tensor, negatives: Tensor, labels: Tensor | None, weights: Tensor | None
    ) -> Tensor:
        if labels is None or labels.dim() != 2 or labels.shape[1] != 1 + negatives.shape[1]:
            raise ValueError(
                "soft-label distillation needs a 'label' column of (1 + negatives) teacher scores per row; "
                "mine with soft labels (flagembedding pos_scores/neg_scores or --teacher)"
            )
        docs = torch.cat([positives[:, None], negatives], dim=1)
        student = self.scale * torch.nn.functional.cosine_similarity(queries[:, None], docs, dim=-1)
        teacher = self.teacher_scale * labels.to(student.dtype)
        kl = soft_label_distillation(student, teacher, self.temperature, weights)
        if not self.contrastive_weight:
            return kl
        return kl + self.contrastive_weight * info_nce(queries, positives, negatives, self.scale, weights)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "temperature": self.temperature,
            "contrastive_weight": self.contrastive_weight,
            "teacher_scale": self.teacher_scale,
            "weighted": self.weighted,
        }


LOSSES: dict[str, type[_ContrastiveLoss]] = {
    "mnrl": MultipleNegativesRankingLoss,
    "fn-masked": FalseNegativeMaskedLoss,
    "debiased": DebiasedContrastiveLoss,
    "distill": SoftLabelDistillationLoss,
}
