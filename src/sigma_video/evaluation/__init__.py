"""Evaluation: frozen features, linear probe, metrics; models load through
``sigma_video.io.load_model``."""

from sigma_video.evaluation.features import extract_features
from sigma_video.evaluation.metrics import topk_accuracy
from sigma_video.evaluation.probe import linear_probe

__all__ = ["extract_features", "linear_probe", "topk_accuracy"]
