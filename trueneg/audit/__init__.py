"""Step 5 of the pipeline: report the false negatives of a dataset (the detector itself lives in :mod:`trueneg.pu`)."""

from trueneg.audit.config import AuditConfig
from trueneg.audit.report import AuditResult, AuditTally, audit, render_html
from trueneg.audit.scale import audit_at_scale
from trueneg.pu import ESTIMATORS, FalseNegativeDetector, FalseNegativeEstimate, estimate_false_negatives, fit_detector

__all__ = [
    "AuditConfig",
    "ESTIMATORS",
    "AuditResult",
    "AuditTally",
    "FalseNegativeEstimate",
    "FalseNegativeDetector",
    "audit",
    "audit_at_scale",
    "estimate_false_negatives",
    "fit_detector",
    "render_html",
]
