"""Evaluation of frozen encoders: the protocols from a checkpoint to a result
(``protocol``: kNN, linear probe, feature files, video object segmentation), their settings
and defaults (``settings``, no torch), and the pieces they are made of — features and their
cache, the probes, kNN, metrics, segmentation. Models load through
``sigma_video.io.load_model``. Names below are imported on first use, so that the command
line reads ``settings`` without loading torch."""

from typing import TYPE_CHECKING

from sigma_video.lazy import lazy_getattr

_LAZY = {
    "extract_features": "sigma_video.evaluation.features",
    "knn_accuracy": "sigma_video.evaluation.knn",
    "knn_protocol": "sigma_video.evaluation.protocol",
    "linear_probe": "sigma_video.evaluation.probe",
    "probe_protocol": "sigma_video.evaluation.protocol",
    "save_features": "sigma_video.evaluation.protocol",
    "segment_protocol": "sigma_video.evaluation.protocol",
    "topk_accuracy": "sigma_video.evaluation.metrics",
    "FeatureOptions": "sigma_video.evaluation.settings",
    "ProbeSettings": "sigma_video.evaluation.settings",
    "SegmentConfig": "sigma_video.evaluation.settings",
}

if TYPE_CHECKING:
    from sigma_video.evaluation.features import extract_features
    from sigma_video.evaluation.knn import knn_accuracy
    from sigma_video.evaluation.metrics import topk_accuracy
    from sigma_video.evaluation.probe import linear_probe
    from sigma_video.evaluation.protocol import (
        knn_protocol,
        probe_protocol,
        save_features,
        segment_protocol,
    )
    from sigma_video.evaluation.settings import FeatureOptions, ProbeSettings, SegmentConfig


__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = [
    "FeatureOptions",
    "ProbeSettings",
    "SegmentConfig",
    "extract_features",
    "knn_accuracy",
    "knn_protocol",
    "linear_probe",
    "probe_protocol",
    "save_features",
    "segment_protocol",
    "topk_accuracy",
]
