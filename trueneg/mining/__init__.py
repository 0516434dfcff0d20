"""Step 3 of the pipeline: false-negative filters, sampling and teacher rescoring; one engine (plan, fit, drive)."""

from trueneg.candidates.pool import RETRIEVERS
from trueneg.mining.config import ENGINES, MiningConfig, ScaleConfig
from trueneg.mining.engine import Inputs, Output, check_output, mine_to_file, write_negatives
from trueneg.mining.filters import anchor_scores, near_duplicates, topk_abs, topk_margin_pos, topk_perc_pos
from trueneg.mining.mine import explain_empty, mine, mine_negatives, mine_pool
from trueneg.mining.result import FORMATS, MiningResult
from trueneg.mining.rules import DROP_REASONS, RULES
from trueneg.mining.sampling import SAMPLING, sample_negatives
from trueneg.mining.summary import MiningSummary

__all__ = [
    "DROP_REASONS",
    "ENGINES",
    "FORMATS",
    "Inputs",
    "Output",
    "RULES",
    "MiningConfig",
    "MiningSummary",
    "ScaleConfig",
    "RETRIEVERS",
    "SAMPLING",
    "MiningResult",
    "anchor_scores",
    "check_output",
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
    "write_negatives",
]
