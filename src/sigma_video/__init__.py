"""sigma-video: SIGMA (Sinkhorn-guided masked video modeling) pretraining and evaluation."""

from sigma_video.losses import sigma_loss, sinkhorn_knopp
from sigma_video.masking import TokenMask, random_mask, tube_mask
from sigma_video.models import create_decoder, create_encoder, list_models
from sigma_video.pretrainer import PretrainerConfig, SigmaPretrainer, build_pretrainer, sample_mask

__version__ = "0.1.0"

_LAZY = {  # heavier entry points, imported on first use
    "load_encoder": "sigma_video.evaluation.loading",
    "load_config": "sigma_video.config",
    "pretrain": "sigma_video.engine.trainer",
    "finetune": "sigma_video.finetuning.trainer",
    "load_finetune_config": "sigma_video.finetuning.config",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sigma_video' has no attribute {name!r}")


__all__ = [
    "PretrainerConfig",
    "SigmaPretrainer",
    "TokenMask",
    "__version__",
    "build_pretrainer",
    "create_decoder",
    "create_encoder",
    "finetune",
    "list_models",
    "load_config",
    "load_encoder",
    "load_finetune_config",
    "pretrain",
    "random_mask",
    "sample_mask",
    "sigma_loss",
    "sinkhorn_knopp",
    "tube_mask",
]
