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
- :class:`WeakAssumeNegative` (Cole et al., CVPR 2021, "WAN"): assume-negative BCE with every
  unobserved label down-weighted to ``gamma`` (default ``1 / (n_labels - 1)``).
- :class:`LargeLossModification` (Kim et al., CVPR 2022, "LL-R" and "LL-Ct"): unobserved labels
  whose assume-negative loss is among the largest of the batch are likely missing positives, since a
  network fits clean labels before noisy ones; from the second epoch on, a share growing by
  ``rate`` per epoch of them is *rejected* (weight 0) or *corrected* (target 1, for this batch).
- :class:`EntropyMaximizationAPL` (Zhou et al., ECCV 2022, EM + asymmetric pseudo-labelling):
  EM, and after ``warmup`` epochs the unobserved labels the model is surest about are given
  pseudo-labels: a large share (``negative_share`` of each label's unobserved, lowest probability
  first) as negatives, a small one (``positive_share``) as positives.
- :class:`OnlineLabelEstimation` (Cole et al., CVPR 2021, "ROLE"): a learnable estimate of every
  training row's unobserved labels, trained jointly with the classifier (each fits the other's
  prediction), and a penalty holding each row's expected number of positives at ``k``.
- :class:`PULoss` (in the spirit of Yuan et al., 2023, "PU-MLC"): the per-label nnPU risk with an
  adaptive re-balance factor on its positive part and an adaptive temperature on the logits.

Losses that follow a schedule have ``begin_epoch(epoch, predict)``; those that keep a state per
training row take ``index`` (the batch's row numbers) in ``forward``; :class:`MultiLabelMLP`
passes both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

Predict = Callable[[], tuple[torch.Tensor, torch.Tensor]]
"""What a scheduled loss's ``begin_epoch`` receives: a call giving ``(probabilities, observed)`` of all rows."""


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


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")


class WeakAssumeNegative(nn.Module):
    """Assume-negative BCE with the unobserved labels weighted ``gamma`` (``1 / (n_labels - 1)`` by default).

    Assumes what AN assumes, that unobserved labels are negative, but trusts each of them as much
    as one observed positive in total per row: with one positive per row of ``L`` labels, the
    ``L - 1`` unobserved ones together weigh 1.

    Example:
        >>> import torch
        >>> loss = WeakAssumeNegative()(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]]))
        >>> round(loss.item(), 4)  # (1 + 0.5 + 0.5) * log 2 / 3
        0.4621
    """

    def __init__(self, gamma: float | None = None) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        y = observed.float()
        gamma = self.gamma if self.gamma is not None else 1.0 / max(logits.shape[1] - 1, 1)
        weight = torch.where(y == 1, 1.0, gamma)
        return (weight * _bce(logits, y)).mean()


class LargeLossModification(nn.Module):
    """LL-R (``mode="reject"``) and LL-Ct (``mode="correct"``): act on the unobserved labels with the largest loss.

    Assumption: early in training the network fits the true negatives, so an unobserved label it
    keeps predicting as present (a large assume-negative loss) is likely a missing positive. In epoch
    ``e`` (counted from 0) the share ``min(rate * e, max_share)`` of the batch's unobserved labels
    with the largest loss is rejected (left out of the loss) or corrected (trained as positive, for
    this batch only: the "temporary" variant).

    Example:
        >>> import torch
        >>> loss = LargeLossModification(rate=0.5, max_share=0.5)
        >>> loss.begin_epoch(1)
        >>> logits, observed = torch.tensor([[3.0, -3.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]])
        >>> round(loss(logits, observed).item(), 4)  # the label at +3 is rejected: (log(1+e^-3) + log 2) / 3
        0.2472
    """

    def __init__(
        self, mode: Literal["reject", "correct"] = "reject", rate: float = 0.005, max_share: float = 0.3
    ) -> None:
        super().__init__()
        self.mode = mode
        self.rate = rate
        self.max_share = max_share
        self.epoch = 0

    def begin_epoch(self, epoch: int, predict: Predict | None = None) -> None:
        self.epoch = epoch

    def large_losses(self, logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """The unobserved entries this epoch rejects or corrects: a boolean mask shaped like ``logits``."""
        y = observed.float()
        losses = _bce(logits, y).detach()
        unobserved = y == 0
        count = int(min(self.rate * self.epoch, self.max_share) * int(unobserved.sum()))
        large = torch.zeros(losses.numel(), dtype=torch.bool, device=losses.device)
        if count:
            large[torch.where(unobserved, losses, torch.full_like(losses, -1.0)).flatten().topk(count).indices] = True
        return large.view_as(losses)

    def forward(self, logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        y = observed.float()
        losses = _bce(logits, y)
        large = self.large_losses(logits, y)
        if self.mode == "reject":
            return torch.where(large, 0.0, losses).mean()
        return torch.where(large, _bce(logits, torch.ones_like(y)), losses).mean()


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    return -(torch.exp(log_p) * log_p + torch.exp(log_not_p) * log_not_p)


class EntropyMaximizationAPL(nn.Module):
    """EM with asymmetric pseudo-labels: confident negatives many, confident positives few.

    Assumption: after ``warmup`` epochs of EM the lowest predictions of a label's unobserved
    entries are mostly true negatives (most unobserved labels are), and only its very highest are
    missing positives. At the end of epoch ``warmup - 1`` the trainer's ``predict()`` scores every
    training row; for each label, the ``negative_share`` of its unobserved entries with the lowest
    probability become pseudo-negatives and the ``positive_share`` with the highest pseudo-positives,
    trained with weight ``beta``; the rest keep the entropy term.
    """

    def __init__(
        self,
        alpha: float = 0.1,
        beta: float = 1.0,
        warmup: int = 10,
        negative_share: float = 0.9,
        positive_share: float = 0.0,
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.beta = beta
        self.warmup = warmup
        self.negative_share = negative_share
        self.positive_share = positive_share
        self.pseudo: torch.Tensor | None = None  # +1 / -1 / 0 per training row and label

    def begin_epoch(self, epoch: int, predict: Predict | None = None) -> None:
        if epoch != self.warmup or predict is None:
            return
        probs, observed = predict()
        ranks = torch.where(observed == 0, probs, torch.nan)
        low = torch.nanquantile(ranks, self.negative_share, dim=0)
        high = torch.nanquantile(ranks, 1 - self.positive_share, dim=0) if self.positive_share > 0 else None
        pseudo = torch.where((observed == 0) & (probs <= low), -1.0, 0.0)
        if high is not None:
            pseudo = torch.where((observed == 0) & (probs >= high), 1.0, pseudo)
        self.pseudo = pseudo

    def forward(self, logits: torch.Tensor, observed: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        y = observed.float()
        log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
        pseudo = torch.zeros_like(y) if self.pseudo is None or index is None else self.pseudo[index]
        free = (1 - y) * (pseudo == 0)
        loss = -y * log_p - self.alpha * free * _entropy(logits)
        loss = loss - self.beta * (1 - y) * ((pseudo < 0) * log_not_p + (pseudo > 0) * log_p)
        return loss.mean()


class OnlineLabelEstimation(nn.Module):
    """ROLE: learnable label estimates for every training row, fitted jointly with the classifier.

    Assumption: every row has about ``k`` positive labels (default: the observed positives per row
    divided by ``label_frequency``, itself 0.5 unless given). The estimates ``q`` (one logit per row
    and label, observed positives fixed at 1) are the classifier's targets, and the classifier's
    predictions are the estimates' targets; ``((sum_j q_ij - k) / L)^2`` keeps the estimates from
    collapsing to all-negative. The estimates are this module's parameters: the trainer optimizes
    them with learning rate ``lr`` and no weight decay.
    """

    def __init__(
        self, n_rows: int, n_labels: int, k: float | None = None, label_frequency: float = 0.5, lr: float = 0.01
    ) -> None:
        super().__init__()
        self.estimates = nn.Parameter(torch.full((n_rows, n_labels), -2.0))
        self.k = k
        self.label_frequency = label_frequency
        self.lr = lr

    def forward(self, logits: torch.Tensor, observed: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        if index is None:
            raise ValueError("OnlineLabelEstimation needs the batch's row numbers (index=)")
        y = observed.float()
        k = self.k if self.k is not None else float(y.sum(1).mean()) / self.label_frequency
        estimates = self.estimates[index]
        q = torch.where(y == 1, 1.0, torch.sigmoid(estimates))
        fit_model = _bce(logits, q.detach()).mean()
        fit_estimates = (_bce(estimates, torch.sigmoid(logits).detach()) * (1 - y)).mean()
        expected = (((q.sum(1) - k) / logits.shape[1]) ** 2).mean()
        return fit_model + fit_estimates + expected


class PULoss(NonNegativePU):
    """nnPU per label with an adaptive re-balance factor and an adaptive temperature (after PU-MLC).

    Our reading of PU-MLC (Yuan et al., 2023), whose exact factors we could not consult offline:
    - re-balance: a rare label's positive risk ``pi_j R_p^+`` is tiny next to its negative risk, so
      training drifts to "always absent"; the positive part is multiplied by
      ``rho_j = min(((1 - pi_j) / pi_j) ** 0.5, max_factor)``, larger for rarer labels;
    - temperature: logits are divided by ``tau_j = 1 + pi_j`` before the negative part, which keeps
      probabilities of frequent labels from being squashed to one value ("over-smoothing").
    Assumes what nnPU assumes: the observed positives are a random sample of each label's positives.
    """

    def __init__(self, priors: torch.Tensor | list[float], beta: float = 0.0, max_factor: float = 5.0) -> None:
        super().__init__(priors, beta)
        self.max_factor = max_factor

    def forward(self, logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        y = observed.float()
        pi = self.priors.clamp(1e-4, 1 - 1e-4)
        rho = ((1 - pi) / pi).sqrt().clamp(max=self.max_factor)
        cooled = logits / (1 + pi)
        n_pos = y.sum(0).clamp(min=1)
        risk_pos = (y * F.softplus(-logits)).sum(0) / n_pos
        risk_pos_as_neg = (y * F.softplus(cooled)).sum(0) / n_pos
        negative_part = F.softplus(cooled).mean(0) - torch.where(y.sum(0) > 0, pi * risk_pos_as_neg, 0.0)
        return (rho * pi * risk_pos + torch.clamp(negative_part, min=-self.beta)).mean()


LOSSES = {
    "bce": AssumeNegativeBCE,
    "wan": WeakAssumeNegative,
    "asl": AsymmetricLoss,
    "em": EntropyMaximization,
    "em-apl": EntropyMaximizationAPL,
    "ll-r": LargeLossModification,
    "ll-ct": LargeLossModification,
    "role": OnlineLabelEstimation,
    "nnpu": NonNegativePU,
    "pu-mlc": PULoss,
}
"""Every loss by its name in ``MultiLabelMLP(loss=...)`` and ``trueneg multilabel --loss``."""
