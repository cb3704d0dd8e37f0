"""Full fine-tuning with the VideoMAE recipe (``sigma-video finetune``): the trainer is
``sigma_video.finetuning.trainer.finetune``, the classifier
``sigma_video.models.classifier.VideoClassifier``."""

from sigma_video.finetuning.config import FinetuneConfig, load_finetune_config

__all__ = ["FinetuneConfig", "load_finetune_config"]
