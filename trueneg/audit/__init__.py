"""Step 5 of the pipeline: estimate the false negatives in a dataset and report them."""

from trueneg.audit.estimate import ESTIMATORS, FalseNegativeEstimate, estimate_false_negatives, pool_features
from trueneg.audit.report import AuditResult, audit, render_html

__all__ = [
    "ESTIMATORS",
    "AuditResult",
    "FalseNegativeEstimate",
    "audit",
    "estimate_false_negatives",
    "pool_features",
    "render_html",
]
