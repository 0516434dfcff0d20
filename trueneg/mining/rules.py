"""The rules that drop a candidate, in one table: name, stage, when it applies, its mask and its remedy.

A candidate is counted under the first rule that drops it, in table order; the summary's
``dropped`` has one entry per rule (:data:`DROP_REASONS`), its ``filters`` the setting of each
positive-aware filter, and :func:`~trueneg.mining.mine.explain_empty` reads the remedies from here.
The stages are those of :func:`~trueneg.mining.mine.mine_pool`: ``window`` (structural exclusions and
the rank window), ``filter`` (the positive-aware filters, which never drop a judged negative) and
``detector`` (the false-negative probability cutoff and the judge cascade).

Example:
    >>> [rule.name for rule in RULES if rule.stage == "filter"]
    ['near_duplicate', 'max_score', 'margin', 'perc_pos', 'min_score']
    >>> from trueneg.mining.config import MiningConfig
    >>> filter_settings(MiningConfig(max_fn_rate=0.05))["perc_pos"] is None  # the detector replaces TopK-PercPos
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from trueneg.mining import filters

if TYPE_CHECKING:
    from trueneg.mining.config import MiningConfig

Stage = Literal["window", "filter", "detector"]


@dataclass(frozen=True)
class FilterInput:
    """What a positive-aware filter reads: the pool's texts and scores, the anchors and the window."""

    doc_texts: list[str]
    candidates: np.ndarray
    positives: np.ndarray
    positive_doc: np.ndarray
    scores: np.ndarray
    anchor: np.ndarray
    alive: np.ndarray


def _near_duplicate(x: FilterInput, threshold: float) -> np.ndarray:
    """TF-IDF near-duplicates of a positive, with the IDF over the window's candidates and the positives."""
    used = np.unique(np.concatenate([x.candidates[x.alive], x.positive_doc]))
    lookup = np.full(len(x.doc_texts), -1, dtype=np.int64)
    lookup[used] = np.arange(len(used))
    vectors = filters.tfidf_matrix([x.doc_texts[i] for i in used])
    local_cand = np.where(x.alive, lookup[np.maximum(x.candidates, 0)], -1)
    local_pos = np.where(x.positives >= 0, lookup[np.maximum(x.positives, 0)], -1)
    return filters.near_duplicates(local_cand, local_pos, vectors, threshold)


@dataclass(frozen=True)
class Rule:
    """One reason a candidate is dropped.

    ``setting`` is the :class:`~trueneg.mining.config.MiningConfig` field that switches a filter on
    (None disables it); ``mask(input, value)`` is the filter's drop mask; ``remedy`` what to change when
    the rule leaves a run without negatives.
    """

    name: str
    stage: Stage
    remedy: str | None = None
    setting: str | None = None
    mask: Callable[[FilterInput, Any], np.ndarray] | None = None

    def value(self, config: MiningConfig) -> Any:
        """The rule's setting in ``config`` (None: off); TopK-PercPos is off whenever ``max_fn_rate`` is set."""
        if self.setting is None or (self.name == "perc_pos" and config.max_fn_rate is not None):
            return None
        return getattr(config, self.setting)


RULES: tuple[Rule, ...] = (
    Rule("labeled_positive", "window"),
    Rule("duplicate_of_positive", "window"),
    Rule("out_of_range", "window", "widen the window (range_max, --range-max)"),
    Rule("near_duplicate", "filter", "raise near_duplicate (--near-duplicate)", "near_duplicate", _near_duplicate),
    Rule("max_score", "filter", "raise max_score (--max-score)", "max_score",
         lambda x, v: filters.topk_abs(x.scores, v)),
    Rule("margin", "filter", "lower margin (--margin)", "margin",
         lambda x, v: filters.topk_margin_pos(x.scores, x.anchor, v)),
    Rule("perc_pos", "filter", "lower perc_pos (--perc-pos), disable it (--no-perc-pos) or widen the window "
         "(--range-max)", "perc_pos", lambda x, v: filters.topk_perc_pos(x.scores, x.anchor, v)),
    Rule("min_score", "filter", "lower min_score (--min-score)", "min_score", lambda x, v: x.scores < v),
    Rule("fn_probability", "detector",
         "raise max_fn_rate (--max-fn-rate) or widen the window (range_max, --range-max)"),
    Rule("judged_relevant", "detector"),
)  # fmt: skip
DROP_REASONS = tuple(rule.name for rule in RULES)
REMEDIES = {rule.name: rule.remedy for rule in RULES if rule.remedy}


def filter_settings(config: MiningConfig) -> dict[str, Any]:
    """The summary's ``filters``: each positive-aware filter's setting (None: off), in the config's field order."""
    settings = {rule.setting: rule.value(config) for rule in RULES if rule.stage == "filter"}
    return {f.name: settings[f.name] for f in dataclasses.fields(config) if f.name in settings}


def apply_filters(x: FilterInput, config: MiningConfig, exempt: np.ndarray, drop: dict[str, np.ndarray]) -> np.ndarray:
    """Fill ``drop`` with each filter's mask (a candidate under the first rule that drops it); the eligible mask.

    ``exempt`` (judged negatives) are never dropped here.
    """
    counted = ~x.alive
    for rule in RULES:
        value = rule.value(config)
        if rule.stage != "filter" or value is None:
            continue
        drop[rule.name] = rule.mask(x, value) & x.alive & ~exempt & ~counted
        counted |= drop[rule.name]
    return x.alive & ~counted
