"""Evaluation: frozen features, linear probe, metrics, encoder loading."""

from sigma_video.evaluation.features import extract_features
from sigma_video.evaluation.loading import load_encoder
from sigma_video.evaluation.metrics import topk_accuracy
from sigma_video.evaluation.probe import linear_probe

__all__ = ["extract_features", "linear_probe", "load_encoder", "topk_accuracy"]
