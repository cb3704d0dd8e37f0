"""sigma-video: SIGMA (Sinkhorn-guided masked video modeling) pretraining and evaluation."""

from sigma_video.losses import sigma_loss, sinkhorn_knopp
from sigma_video.masking import TokenMask, random_mask, tube_mask
from sigma_video.models import create_decoder, create_encoder, list_models
from sigma_video.pretrainer import PretrainerConfig, SigmaPretrainer, build_pretrainer, sample_mask

__version__ = "0.1.0"

__all__ = [
    "PretrainerConfig",
    "SigmaPretrainer",
    "TokenMask",
    "__version__",
    "build_pretrainer",
    "create_decoder",
    "create_encoder",
    "list_models",
    "random_mask",
    "sample_mask",
    "sigma_loss",
    "sinkhorn_knopp",
    "tube_mask",
]
