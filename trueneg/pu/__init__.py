"""Step 4 of the pipeline: positive-unlabeled estimation (label frequency, class priors)."""

from trueneg.pu.priors import KM2, ElkanNoto, TIcE, oof_scores, unlabeled_posterior

__all__ = ["KM2", "ElkanNoto", "TIcE", "oof_scores", "unlabeled_posterior"]
