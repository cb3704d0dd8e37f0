"""Full fine-tuning with the VideoMAE recipe (``sigma-video finetune``): the trainer is
``sigma_video.finetuning.trainer.finetune``."""

from sigma_video.finetuning.config import FinetuneConfig, load_finetune_config
from sigma_video.finetuning.model import VideoClassifier

__all__ = ["FinetuneConfig", "VideoClassifier", "load_finetune_config"]
