"""Deprecated location: the classifier is ``sigma_video.models.classifier``, the saved
fine-tuning run format ``sigma_video.io``."""

from sigma_video.io.load import CLASSIFIER_FILE, load_classifier_meta
from sigma_video.models.classifier import (
    NORM_KEYS,
    VideoClassifier,
    classifier_from_config,
    finetuning_encoder,
)

__all__ = [
    "CLASSIFIER_FILE",
    "NORM_KEYS",
    "VideoClassifier",
    "classifier_from_config",
    "finetuning_encoder",
    "load_classifier_meta",
]
