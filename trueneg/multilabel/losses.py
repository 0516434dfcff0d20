"""Multi-label losses for missing labels: an absent label is unobserved, not negative.

All take ``logits`` and ``observed`` of shape ``(batch, n_labels)``; ``observed`` is 1 for an
annotated positive and 0 for "not annotated" (which may be a negative or a missing positive).
Each returns the mean loss over the batch.

- :class:`AssumeNegativeBCE`: binary cross-entropy treating every unobserved label as negative,
  the baseline that missing labels poison.
- :class:`AsymmetricLoss` (Ridnik et al., 2021, "ASL"): focusing ``gamma_pos``/``gamma_neg`` and a
  probability margin ``clip`` that shifts negatives' probability down and zeroes the loss of easy
  ones, so that likely-missing positives (high ``p`` on an unobserved label) are down-weighted.
- :class:`EntropyMaximization` (Zhou et al., 2022, "Acknowledging the Unknown for Multi-label
  Learning with Single Positive Labels"): cross-entropy on observed positives, and for unobserved
  labels *maximize* the binary entropy of the prediction instead of pushing it to 0.
- :class:`NonNegativePU` (Kiryo et al., 2017, nnPU, per label): the unbiased PU risk
  ``pi * R_p^+ + (R_u^- - pi * R_p^-)`` with the negative-class part clamped at 0, where the
  unlabeled distribution is the whole batch (every sample is drawn from the marginal) and ``pi``
  is each label's class prior, e.g. from :mod:`trueneg.pu` estimators.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class AssumeNegativeBCE(nn.Module):
    """BCE with every unobserved label taken as a negative.

    Example:
        >>> import torch
        >>> round(AssumeNegativeBCE()(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])).item(), 4)
        0.6931
    """

    def forward(self, logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        return (
            F.binary_cross_entropy_with_logits(logits, observed.float(), reduction="none").sum(1).mean()
            / logits.shape[1]
        )


class AsymmetricLoss(nn.Module):
    """ASL: ``-y (1-p)^gp log p - (1-y) p_m^gn log(1-p_m)``, ``p_m = max(p - clip, 0)``.

    Args:
        gamma_neg / gamma_pos: focusing exponents. clip: probability margin for negatives.
        eps: floor inside the logarithms.
    """

    def __init__(self, gamma_neg: float = 4.0, gamma_pos: float = 0.0, clip: float = 0.05, eps: float = 1e-8) -> None:
        super().__init__()
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps

    def forward(self, logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        y = observed.float()
        p = torch.sigmoid(logits)
        p_neg = (p - self.clip).clamp(min=0) if self.clip > 0 else p
        pos = y * (1 - p) ** self.gamma_pos * torch.log(p.clamp(min=self.eps))
        neg = (1 - y) * p_neg**self.gamma_neg * torch.log((1 - p_neg).clamp(min=self.eps))
        return -(pos + neg).sum(1).mean() / logits.shape[1]


class EntropyMaximization(nn.Module):
    """EM loss: ``-log p`` on observed positives, ``-alpha * H(p)`` on unobserved labels.

    ``H(p) = -p log p - (1-p) log(1-p)``; minimizing ``-alpha H`` keeps unannotated predictions
    uncertain rather than forcing them to 0.
    """

    def __init__(self, alpha: float = 0.1) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        y = observed.float()
        log_p = F.logsigmoid(logits)
        log_not_p = F.logsigmoid(-logits)
        entropy = -(torch.exp(log_p) * log_p + torch.exp(log_not_p) * log_not_p)
        loss = -y * log_p - self.alpha * (1 - y) * entropy
        return loss.sum(1).mean() / logits.shape[1]


class NonNegativePU(nn.Module):
    """Per-label non-negative PU risk with the logistic loss.

    Args:
        priors: class prior ``pi_j = P(y_j = 1)`` of each label (tensor or sequence of floats).
        beta: slack before the negative part is clamped (0 as in the plain non-negative estimator).
    """

    def __init__(self, priors: torch.Tensor | list[float], beta: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("priors", torch.as_tensor(priors, dtype=torch.float32))
        self.beta = beta

    def forward(self, logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        y = observed.float()
        n_pos = y.sum(0)
        loss_pos = F.softplus(-logits)  # logistic loss of predicting +1
        loss_neg = F.softplus(logits)  # logistic loss of predicting -1
        risk_pos = (y * loss_pos).sum(0) / n_pos.clamp(min=1)
        risk_pos_as_neg = (y * loss_neg).sum(0) / n_pos.clamp(min=1)
        risk_unl_as_neg = loss_neg.mean(0)
        has_pos = n_pos > 0
        negative_part = torch.where(has_pos, risk_unl_as_neg - self.priors * risk_pos_as_neg, risk_unl_as_neg)
        risk = torch.where(has_pos, self.priors * risk_pos, torch.zeros_like(risk_pos))
        risk = risk + torch.clamp(negative_part, min=-self.beta)
        return risk.mean()


LOSSES = {"bce": AssumeNegativeBCE, "asl": AsymmetricLoss, "em": EntropyMaximization, "nnpu": NonNegativePU}
