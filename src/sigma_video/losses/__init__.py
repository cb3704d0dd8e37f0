"""Pure loss functions (Sinkhorn, SIGMA, L2) and the objectives built from them."""

from sigma_video.losses.diagnostics import feature_spread, prototype_usage
from sigma_video.losses.objectives import L2Objective, SigmaObjective
from sigma_video.losses.reconstruction import l2_loss
from sigma_video.losses.sigma import SigmaLossOutput, cross_entropy, prototype_scores, sigma_loss
from sigma_video.losses.sinkhorn import sinkhorn_knopp

__all__ = [
    "L2Objective",
    "SigmaLossOutput",
    "SigmaObjective",
    "cross_entropy",
    "feature_spread",
    "l2_loss",
    "prototype_scores",
    "prototype_usage",
    "sigma_loss",
    "sinkhorn_knopp",
]
