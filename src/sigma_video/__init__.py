"""sigma-video: SIGMA (Sinkhorn-guided masked video modeling) pretraining and evaluation."""

from typing import TYPE_CHECKING

from sigma_video.lazy import lazy_getattr

__version__ = "0.1.0"

_LAZY = {  # imported on first use, so that `sigma-video --help` does not load torch
    "sigma_loss": "sigma_video.losses",
    "sinkhorn_knopp": "sigma_video.losses",
    "TokenMask": "sigma_video.masks.token_mask",
    "random_mask": "sigma_video.masks.random",
    "tube_mask": "sigma_video.masks.tube",
    "create_decoder": "sigma_video.models",
    "create_encoder": "sigma_video.models",
    "list_models": "sigma_video.models",
    "MaskSettings": "sigma_video.masks.builder",
    "PretrainerConfig": "sigma_video.models.config",
    "SigmaPretrainer": "sigma_video.pretrainer",
    "build_pretrainer": "sigma_video.pretrainer",
    "sample_mask": "sigma_video.pretrainer",
    "load_model": "sigma_video.io.load",
    "load_pretrain_config": "sigma_video.pretraining.config",
    "pretrain": "sigma_video.pretraining.trainer",
    "finetune": "sigma_video.finetuning.trainer",
    "load_finetune_config": "sigma_video.finetuning.config",
}


if TYPE_CHECKING:  # for type checkers and IDEs
    from sigma_video.losses import sigma_loss, sinkhorn_knopp
    from sigma_video.masks.builder import MaskSettings
    from sigma_video.masks.random import random_mask
    from sigma_video.masks.token_mask import TokenMask
    from sigma_video.masks.tube import tube_mask
    from sigma_video.models import create_decoder, create_encoder, list_models
    from sigma_video.models.config import PretrainerConfig
    from sigma_video.pretrainer import SigmaPretrainer, build_pretrainer, sample_mask


__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = [
    "MaskSettings",
    "PretrainerConfig",
    "SigmaPretrainer",
    "TokenMask",
    "__version__",
    "build_pretrainer",
    "create_decoder",
    "create_encoder",
    "finetune",
    "list_models",
    "load_finetune_config",
    "load_model",
    "load_pretrain_config",
    "pretrain",
    "random_mask",
    "sample_mask",
    "sigma_loss",
    "sinkhorn_knopp",
    "tube_mask",
]
