"""Last step of the pipeline: score a retrieval model on a BEIR split."""

from trueneg.evaluation.retrieval import METRICS, EvalResult, evaluate, evaluate_run

__all__ = ["METRICS", "EvalResult", "evaluate", "evaluate_run"]
