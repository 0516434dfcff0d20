"""Step 5 of the pipeline: estimate the false negatives in a dataset and report them."""

from trueneg.audit.estimate import (
    ESTIMATORS,
    FalseNegativeEstimate,
    FalseNegativeModel,
    estimate_false_negatives,
    fit_false_negative_model,
    pool_features,
)
from trueneg.audit.report import AuditResult, AuditTally, audit, render_html
from trueneg.audit.scale import audit_at_scale

__all__ = [
    "ESTIMATORS",
    "AuditResult",
    "AuditTally",
    "FalseNegativeEstimate",
    "FalseNegativeModel",
    "audit",
    "audit_at_scale",
    "estimate_false_negatives",
    "fit_false_negative_model",
    "pool_features",
    "render_html",
]
