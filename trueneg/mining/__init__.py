"""Step 3 of the pipeline: false-negative filters, sampling and teacher rescoring."""

from trueneg.candidates.pool import RETRIEVERS
from trueneg.mining.config import MiningConfig, ScaleConfig
from trueneg.mining.filters import anchor_scores, near_duplicates, topk_abs, topk_margin_pos, topk_perc_pos
from trueneg.mining.mine import explain_empty, mine, mine_negatives, mine_pool
from trueneg.mining.result import FORMATS, MiningResult
from trueneg.mining.sampling import SAMPLING, sample_negatives
from trueneg.mining.stream import ENGINES, mine_to_file
from trueneg.mining.summary import DROP_REASONS, MiningSummary

__all__ = [
    "DROP_REASONS",
    "ENGINES",
    "FORMATS",
    "MiningConfig",
    "MiningSummary",
    "ScaleConfig",
    "RETRIEVERS",
    "SAMPLING",
    "MiningResult",
    "anchor_scores",
    "explain_empty",
    "mine",
    "mine_negatives",
    "mine_pool",
    "mine_to_file",
    "near_duplicates",
    "sample_negatives",
    "topk_abs",
    "topk_margin_pos",
    "topk_perc_pos",
]
