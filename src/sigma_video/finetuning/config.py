"""Fine-tuning configuration (VideoMAE's recipe as defaults); same loading rules as
pretraining: defaults -> preset (``sigma_video/configs/finetune``) -> dotted overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma_video.config import PRESET_DIR, load_config
from sigma_video.data.config import LoaderSettings
from sigma_video.data.dataset import SAMPLINGS
from sigma_video.data.randaugment import RandAugment
from sigma_video.data.subset import SEVERE_SEED
from sigma_video.engine.config import BaseRunConfig, OptimConfig
from sigma_video.finetuning.tasks import TASKS, VIEW_POOLS

FINETUNE_PRESETS = PRESET_DIR / "finetune"


@dataclass
class FinetuneModelConfig:
    """``checkpoint``: what to fine-tune — a pretraining run dir, checkpoint, converted or
    reference file, or ``random:PRESET`` (training from scratch). ``task``:
    ``classification`` (one label per video), ``multilabel`` (``path l1,l2`` lists or the
    Charades CSV; sigmoid + BCE, mAP) or ``counting`` (``path count`` lists; a regression
    head, MAE / off-by-one); see ``finetuning.tasks``. ``num_classes``: None counts the
    training labels."""

    checkpoint: str = "runs/demo"
    task: str = "classification"
    num_classes: int | None = None
    drop_path: float = 0.1
    head_dropout: float = 0.0
    head_init_scale: float = 0.001
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_path < 1.0 or not 0.0 <= self.head_dropout < 1.0:
            raise ValueError("model.drop_path and model.head_dropout must be in [0, 1)")
        if self.num_classes is not None and self.num_classes < 2:
            raise ValueError(f"model.num_classes must be >= 2, got {self.num_classes}")
        if self.task not in TASKS:
            raise ValueError(f"model.task must be one of {TASKS}, got {self.task!r}")


@dataclass
class FinetuneDataConfig(LoaderSettings):
    """Lists (``train``, ``val``, ``test``; None: the embedded dataset's motion labels);
    clip settings None take the encoder's pretraining values. Training clips: ``sampling``
    ("stride" for K400, "segments" for SSv2), ``crop`` (random-resized, as VideoMAE),
    ``flip`` (not for SSv2), ``num_sample`` views per decode, ``randaugment`` (timm-style,
    "none" turns it off) and random erasing with probability ``reprob``. Test:
    ``test_clips`` × ``test_crops`` views per video (SSv2 2×3, K400 5×3) on ``test``
    (default: ``val``), pooled per ``view_pool`` for multi-label (``max`` as the SEVERE /
    SlowFast Charades test, or ``mean``). ``subset``: train on that many videos of the
    training list, drawn with ``subset_seed`` (SEVERE's low-shot columns: 1 000), saved as
    ``train_subset.txt`` in the run. ``label_range`` ``(first, last)``: keep only the
    videos of those classes, renumbered from 0 (FineGym's FX-S1 = Gym99 6–16, UB-S1 =
    74–88). Also ``data_root`` (prefix for relative paths), ``workers``,
    ``backend`` (pyav or torchcodec), ``time_limit`` (seconds per decode before a file counts
    as bad) and ``max_bad_fraction`` (of a list that may be skipped)."""

    crop: str = "random_resized"
    val: str | None = None
    test: str | None = None
    num_frames: int | None = None
    stride: int | None = None
    size: int | None = None
    sampling: str = "stride"
    flip: bool = False
    randaugment: str = "m7-n4-mstd0.5-inc1"
    reprob: float = 0.25
    test_clips: int = 2
    test_crops: int = 3
    view_pool: str = "max"
    subset: int | None = None
    subset_seed: int = SEVERE_SEED
    label_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.view_pool not in VIEW_POOLS:
            raise ValueError(f"data.view_pool must be one of {VIEW_POOLS}, got {self.view_pool!r}")
        if self.subset is not None and self.subset < 1:
            raise ValueError(f"data.subset must be >= 1, got {self.subset}")
        if self.label_range is not None and not 0 <= self.label_range[0] <= self.label_range[1]:
            raise ValueError(f"data.label_range must be 0 <= first <= last, got {self.label_range}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"data.sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        for name in ("test_clips", "test_crops"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.reprob <= 1.0:
            raise ValueError(f"data.reprob must be in [0, 1], got {self.reprob}")
        RandAugment.parse(self.randaugment)  # refuse a bad spec now


@dataclass
class FinetuneOptimConfig(OptimConfig):
    """AdamW (0.9, 0.999) with layer-wise lr decay, warm-up + cosine, mixup 0.8 / cutmix 1.0
    (``mix_prob``, ``switch_prob``) and label smoothing 0.1; lrs scale with videos per
    optimizer step / 256 (``batch_size · accum_steps · world_size``; the ``num_sample`` views
    do not count, as in VideoMAE)."""

    epochs: int = 30
    warmup_epochs: float = 5.0
    batch_size: int = 8
    base_lr: float = 1e-3
    min_lr: float = 1e-6
    warmup_lr: float = 0.0  # VideoMAE's fine-tuning warm-up also starts at 0
    betas: tuple[float, float] = (0.9, 0.999)
    layer_decay: float = 0.75
    mixup: float = 0.8
    cutmix: float = 1.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.layer_decay <= 1.0:
            raise ValueError(f"optim.layer_decay must be in (0, 1], got {self.layer_decay}")
        if self.mixup < 0 or self.cutmix < 0:
            raise ValueError(
                f"optim.mixup and optim.cutmix must be >= 0, got {self.mixup}, {self.cutmix}"
            )
        for name in ("mix_prob", "switch_prob", "label_smoothing"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"optim.{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class FinetuneRunConfig(BaseRunConfig):
    """``eval_every``: validate (one centre view per video) every this many epochs; 0 only
    runs the final multi-view test."""

    output: str = "runs/finetune"
    eval_every: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eval_every < 0:
            raise ValueError(f"run.eval_every must be >= 0, got {self.eval_every}")


@dataclass
class FinetuneConfig:
    model: FinetuneModelConfig = field(default_factory=FinetuneModelConfig)
    data: FinetuneDataConfig = field(default_factory=FinetuneDataConfig)
    optim: FinetuneOptimConfig = field(default_factory=FinetuneOptimConfig)
    run: FinetuneRunConfig = field(default_factory=FinetuneRunConfig)


def load_finetune_config(
    preset: str | Path | None = None, overrides: list[str] | None = None
) -> FinetuneConfig:
    """Defaults, then a fine-tuning preset (name or file), then ``key=value`` overrides."""
    result: Any = load_config(
        None if preset is None else str(preset),
        overrides,
        cls=FinetuneConfig,
        folder=FINETUNE_PRESETS,
    )
    return result
