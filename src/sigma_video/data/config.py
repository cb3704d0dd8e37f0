"""Data settings of a pretraining run (``[data]``), and the loader settings fine-tuning
shares."""

from __future__ import annotations

from dataclasses import dataclass

from sigma_video.data.dataset import CROPS, DECODE_IN


@dataclass
class LoaderSettings:
    """Where the videos come from and how the loader treats them, for every kind of run:
    ``train`` (an annotation list or a folder; None: the embedded dataset), ``data_root``
    (prefix for relative paths), ``crop``, ``num_sample`` (views per decode), ``workers``,
    ``backend`` (pyav or torchcodec), ``time_limit`` (seconds per decode before a file
    counts as bad) and ``max_bad_fraction`` (of the list that may be skipped)."""

    train: str | None = None
    data_root: str | None = None
    crop: str = "multiscale"
    num_sample: int = 1
    workers: int = 8
    backend: str = "pyav"
    time_limit: float = 30.0
    max_bad_fraction: float = 0.05

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
    ``stride`` apart (2 for SSv2, 4 for K400, as the reference), cropped to ``size``².

    ``train``: an annotation list or a folder of videos (None: the embedded dataset);
    ``data_root``: prefix for relative paths; ``crop``; ``num_sample``: views per decode;
    ``workers``; ``backend`` (pyav or torchcodec); ``time_limit``: seconds per decode before
    a file counts as bad; ``max_bad_fraction`` of the list that may be skipped.
    ``decode_in``: ``loader`` (the workers decode) or ``step`` (the workers only plan each
    clip; the training process decodes it on its device — NVDEC with ``backend =
    "torchcodec"`` on a GPU; ``data.step_decode``)."""

    num_frames: int = 16
    stride: int = 4
    size: int = 224
    decode_in: str = "loader"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.decode_in not in DECODE_IN:
            raise ValueError(f"data.decode_in must be one of {DECODE_IN}, got {self.decode_in!r}")
        for name in ("num_frames", "stride", "size"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
