"""Data settings of a pretraining run (``[data]``), and the loader settings fine-tuning
shares."""

from __future__ import annotations

from dataclasses import dataclass

from sigma_video.data.dataset import CROPS, DECODE_IN
from sigma_video.data.mix import Source


@dataclass
class LoaderSettings:
    """Where the videos come from and how the loader treats them, for every kind of run."""

    train: str | None = None
    """annotation list or folder of videos (`none`: the embedded dataset)"""
    data_root: str | None = None
    """prefix of the lists' relative paths (`none`: each list's folder)"""
    crop: str = "multiscale"
    """training crop: `multiscale` (reference pretraining), `random_resized`, `center`"""
    num_sample: int = 1
    """views cut from each decoded video (repeated augmentation)"""
    workers: int = 8
    """loader worker processes, for training and the closing evaluation (0: load in the training
    process)"""
    backend: str = "pyav"
    """video decoder: `pyav` or `torchcodec`"""
    time_limit: float = 30.0
    """seconds a decode may take before the file counts as bad"""
    max_bad_fraction: float = 0.05
    """share of the list that may be missing or unreadable (skipped) before the run stops"""

    SESSION_KEYS = ("workers",)  # the samples are pure functions of (seed, epoch, index)

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"data.crop must be one of {CROPS}, got {self.crop!r}")
        if self.workers < 0:
            raise ValueError(f"data.workers must be >= 0, got {self.workers}")
        if self.num_sample < 1:
            raise ValueError(f"data.num_sample must be >= 1, got {self.num_sample}")


@dataclass
class DataConfig(LoaderSettings):
    """Where the pretraining clips come from and how they are cut: ``num_frames`` frames
    ``stride`` apart, cropped to ``size``². With ``decode_in = "step"`` the training process
    decodes on its device what the workers plan (NVDEC with ``backend = "torchcodec"`` on a
    GPU; ``data.step_decode``)."""

    num_frames: int = 16
    """frames per clip"""
    stride: int = 4
    """frames between the clip's frames (2 for SSv2, 4 for K400)"""
    size: int = 224
    """clip side in pixels after cropping"""
    decode_in: str = "loader"
    """`loader` (workers decode) or `step` (workers plan, the training process decodes, NVDEC with
    torchcodec)"""
    sources: tuple[Source, ...] = ()
    """several lists or shards mixed by weight, instead of `data.train` (`[[data.sources]]`
    tables of `path` and `weight`, or `PATH=WEIGHT,PATH=WEIGHT`)"""

    @property
    def embedded(self) -> bool:
        """The run trains on the embedded dataset (neither `train` nor `sources` set)."""
        return self.train is None and not self.sources

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sources and self.train is not None:
            raise ValueError("set data.train or data.sources, not both")
        if self.decode_in not in DECODE_IN:
            raise ValueError(f"data.decode_in must be one of {DECODE_IN}, got {self.decode_in!r}")
        for name in ("num_frames", "stride", "size"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
