"""The evaluation protocols' settings and defaults, in one place: kNN's k and temperature,
the linear probe's, the feature extraction's and the segmentation's. This module imports no
torch, so that the command line reads its defaults and help from here before it parses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KNN_KS = (20, 200)  # the DINO protocol: top-1 at both k
KNN_TEMPERATURE = 0.07
LBFGS_WEIGHT_DECAY = 1e-4  # the probe on cached features (L-BFGS)
LBFGS_MAX_ITER = 100
AUGMENTED_WEIGHT_DECAY = 0.0  # the probe trained on augmented clips (AdamW)
CLIP_LEN = {"davis": 16, "ytvos": 4}  # segmentation clips, frames (Time-Tuning)


@dataclass(frozen=True)
class FeatureOptions:
    """How the clip features of a list are extracted (``evaluation.cache.features_for``):
    ``num_clips`` uniform clips × ``num_crops`` spatial crops per video (1 × 1: one centre
    view), averaged; loader ``workers``; ``device`` (``auto``: CUDA when there is one);
    ``cache_dir`` (None: the user cache); ``progress``: a bar or plain lines on stderr."""

    data_root: str | None = None
    num_clips: int = 1
    num_crops: int = 1
    workers: int = 2
    device: str = "auto"
    cache_dir: str | Path | None = None
    progress: bool = False


@dataclass
class ProbeSettings:
    """``augment=false``: L-BFGS on cached centre-view features (``weight_decay`` default
    1e-4, ``max_iter``); ``augment=true``: BatchNorm + linear trained with AdamW on fresh
    ``crop`` views every epoch (``epochs``, ``batch_size``, ``lr``, ``weight_decay`` default 0)."""

    augment: bool = False
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float | None = None
    crop: str = "random_resized"
    max_iter: int = LBFGS_MAX_ITER

    def __post_init__(self) -> None:
        from sigma_video.data.dataset import CROPS

        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")

    @property
    def decay(self) -> float:
        """``weight_decay``, or the default of the probe ``augment`` picks."""
        if self.weight_decay is not None:
            return self.weight_decay
        return AUGMENTED_WEIGHT_DECAY if self.augment else LBFGS_WEIGHT_DECAY


@dataclass(frozen=True)
class SegmentConfig:
    """``clusters=None``: K = number of ground-truth segments of the clip;
    ``clip_len=None``: 16 frames on DAVIS, 4 annotated frames on YouTube-VOS (Time-Tuning)."""

    clip_len: int | None = None
    clusters: int | None = None
    overclusters: int = 10
    pca_dim: int = 50
    kmeans_iters: int = 50
    kmeans_restarts: int = 5
    seed: int = 0
