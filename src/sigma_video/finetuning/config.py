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
    """What is fine-tuned and the head it gets; ``finetuning.tasks`` reads each task's lists
    (``multilabel``: ``path l1,l2`` lines or the Charades CSV; ``counting``: ``path count``)."""

    checkpoint: str = "runs/demo"
    """what to fine-tune: a pretraining run, checkpoint, converted or reference file, or
    `random:PRESET`"""
    task: str = "classification"
    """`classification`, `multilabel` (sigmoid + BCE, mAP) or `counting` (regression, MAE /
    off-by-one)"""
    num_classes: int | None = None
    """the head's outputs (`none`: counted from the training labels)"""
    drop_path: float = 0.1
    """stochastic-depth rate of the encoder"""
    head_dropout: float = 0.0
    """dropout before the head"""
    head_init_scale: float = 0.001
    """the head's initial weights: trunc-normal σ 0.02 times this"""
    grad_checkpointing: bool = False
    """recompute each block's activations in the backward pass (less memory)"""

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_path < 1.0 or not 0.0 <= self.head_dropout < 1.0:
            raise ValueError("model.drop_path and model.head_dropout must be in [0, 1)")
        if self.num_classes is not None and self.num_classes < 2:
            raise ValueError(f"model.num_classes must be >= 2, got {self.num_classes}")
        if self.task not in TASKS:
            raise ValueError(f"model.task must be one of {TASKS}, got {self.task!r}")


@dataclass
class FinetuneDataConfig(LoaderSettings):
    """The labelled lists and clips of fine-tuning (none: the embedded dataset's motion labels);
    clip settings left unset take the encoder's pretraining values. The paper's test views
    are 2×3 for SSv2 and 5×3 for K400; SEVERE's low-shot columns train on ``subset = 1000``;
    FineGym's FX-S1 and UB-S1 are Gym99's ``label_range`` 6–16 and 74–88."""

    crop: str = "random_resized"
    """training crop: `multiscale` (reference pretraining), `random_resized`, `center`"""
    val: str | None = None
    """labelled validation list (required with `data.train`)"""
    test: str | None = None
    """list of the final multi-view test (`none`: `data.val`)"""
    num_frames: int | None = None
    """frames per clip (`none`: the pretrained encoder's)"""
    stride: int | None = None
    """frames between the clip's frames (`none`: the pretrained encoder's)"""
    size: int | None = None
    """clip side in pixels (`none`: the pretrained encoder's)"""
    sampling: str = "stride"
    """`stride` (K400) or `segments` (TSN, SSv2)"""
    flip: bool = False
    """random horizontal flips of training clips (not for SSv2's direction classes)"""
    randaugment: str = "m7-n4-mstd0.5-inc1"
    """timm-style RandAugment of training views (`none`: off)"""
    reprob: float = 0.25
    """probability of random erasing of a training clip"""
    test_clips: int = 2
    """clips per video in the final test"""
    test_crops: int = 3
    """spatial crops per clip in the final test"""
    view_pool: str = "max"
    """multi-label test: `max` or `mean` of the views' sigmoid scores"""
    subset: int | None = None
    """train on this many videos of the list (SEVERE's low-shot rule), saved as
    `train_subset.txt`"""
    subset_seed: int = SEVERE_SEED
    """seed of the subset draw"""
    label_range: tuple[int, int] | None = None
    """keep only the videos of classes `first,last`, renumbered from 0"""

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
    """epochs of the lr/wd schedule (`max_steps` may end the run earlier)"""
    warmup_epochs: float = 5.0
    """epochs of linear warm-up, counted in steps"""
    batch_size: int = 8
    """clips per process and micro-step; the global batch is `batch_size · accum_steps ·
    world_size`"""
    base_lr: float = 1e-3
    """peak lr, scaled by global batch / 256"""
    min_lr: float = 1e-6
    """lr at the end of the cosine, scaled by global batch / 256"""
    warmup_lr: float = 0.0  # VideoMAE's fine-tuning warm-up also starts at 0
    """lr the warm-up starts from, scaled by global batch / 256"""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas"""
    layer_decay: float = 0.75
    """layer-wise lr decay: the lr of a layer is times this per layer below the head"""
    mixup: float = 0.8
    """mixup α (0: off); single-label classification only"""
    cutmix: float = 1.0
    """CutMix α (0: off); single-label classification only"""
    mix_prob: float = 1.0
    """probability that a batch is mixed at all"""
    switch_prob: float = 0.5
    """probability of CutMix rather than mixup when both are on"""
    label_smoothing: float = 0.1
    """label smoothing of the (mixed) targets"""

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
    """Fine-tuning run settings: those of every run and the validation cadence."""

    output: str = "runs/finetune"
    """the run folder: `config.json`, `metrics.jsonl`, `summary.json`, `checkpoints/`,
    `tensorboard/`"""
    eval_every: int = 1
    """validate (one centre view per video) every this many epochs; 0: only the final test"""

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
