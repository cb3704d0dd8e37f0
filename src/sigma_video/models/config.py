"""The pretraining model's settings (``[model]``), in one section per part: the encoder Ψ,
the decoder, the target network φ and the objective. The defaults are the released
SIGMA-MLP recipe at ViT-B; each field's docstring is what ``sigma-video config`` prints
above its value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sigma_video.losses.sigma import check_sigma_options
from sigma_video.losses.sinkhorn import check_sinkhorn_options
from sigma_video.models.dino import FRAME_MODES
from sigma_video.models.projection import FROZEN_PRECISIONS, PROJECTION_PRESETS
from sigma_video.models.registry import list_models

TARGETS = ("mlp", "pixels", "dino")
OBJECTIVES = ("sigma", "l2")


def _one_of(key: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")


@dataclass
class EncoderSettings:
    """The encoder Ψ, beyond its preset ``model.arch``."""

    num_frames: int | None = None
    """frames the encoder is built for: its default position table, its Hugging Face export's input
    (`none`: `data.num_frames`)"""
    img_size: int | None = None
    """clip side the encoder is built for, as `num_frames` (`none`: `data.size`)"""
    patch: int | None = None
    """tube side in pixels (`none`: the preset's, 16)"""
    drop_path: float = 0.0
    """stochastic-depth rate of the encoder"""


@dataclass
class DecoderSettings:
    """The decoder that predicts the masked tubes' targets, beyond its preset."""

    depth: int | None = None
    """decoder blocks (`none`: the preset's)"""


@dataclass
class TargetSettings:
    """The target network φ whose features of the masked tubes the decoder predicts."""

    kind: str = "mlp"
    """target network φ: `mlp` (SIGMA-MLP), `pixels` (VideoMAE), `dino` (a frozen DINO,
    SIGMA-DINO)"""
    projection: str = "reference"
    """φ-MLP's hidden widths: `reference` (1024, 1024, 512), `paper`/`shallower` (1024), `deeper`"""
    dim: int = 256
    """width of φ-MLP's output, of the prototypes and of the decoder's prediction"""
    freeze_steps: int = 0
    """keep φ fixed for the first steps"""
    freeze_epochs: float = 0.0
    """keep φ fixed for this many more epochs of the run (added to `freeze_steps`)"""
    dino_arch: str = "dino_vitb16"
    """SIGMA-DINO's image model (`dino_vits16`, `dino_vitb16`, `dinov2_*`)"""
    dino_weights: str | None = None
    """SIGMA-DINO's weights file (`random`: random weights, for tests)"""
    dino_frames: str = "first"
    """frames of a tube DINO sees: `first` or `mean`"""
    dino_precision: str = "fp32"
    """DINO's features in `fp32` outside the step's autocast (official) or `bf16` under it"""

    def __post_init__(self) -> None:
        _one_of("model.target.kind", self.kind, TARGETS)
        _one_of("model.target.projection", self.projection, sorted(PROJECTION_PRESETS))
        _one_of("model.target.dino_frames", self.dino_frames, FRAME_MODES)
        _one_of("model.target.dino_precision", self.dino_precision, FROZEN_PRECISIONS)
        if self.freeze_steps < 0 or self.freeze_epochs < 0:
            raise ValueError(
                "model.target.freeze_steps and freeze_epochs must be >= 0, got "
                f"{self.freeze_steps} and {self.freeze_epochs}"
            )


@dataclass
class ObjectiveSettings:
    """What the decoder's predictions are scored against: SIGMA's Sinkhorn codes over
    learnable prototypes, or an L2 regression of φ's features."""

    kind: str = "sigma"
    """`sigma` (Sinkhorn codes over learnable prototypes) or `l2`"""
    num_prototypes: int = 3000
    """K, the number of prototypes"""
    freeze_prototypes_steps: int = 0
    """keep the prototypes fixed for the first steps"""
    temperature: float = 0.1
    """temperature of the softmax over prototype scores"""
    epsilon: float = 0.05
    """Sinkhorn's entropy ε"""
    sinkhorn_iterations: int = 10
    """Sinkhorn iterations"""
    codes: str = "hard"
    """prediction targets: `hard` (argmax of the Sinkhorn codes, released recipe) or `soft` (paper
    Eq. 5)"""

    def __post_init__(self) -> None:
        _one_of("model.objective.kind", self.kind, OBJECTIVES)
        if self.num_prototypes < 2:
            raise ValueError(
                f"model.objective.num_prototypes (K) must be >= 2, got {self.num_prototypes}"
            )
        check_sigma_options(self.temperature, self.codes)
        check_sinkhorn_options(self.epsilon, self.sinkhorn_iterations)


@dataclass
class PretrainerConfig:
    """One pretraining variant: the backbone preset and its parts (``[model.encoder]``,
    ``[model.decoder]``, ``[model.target]``, ``[model.objective]``). SIGMA-MLP is
    ``target.kind = "mlp"``, SIGMA-DINO ``"dino"``, VideoMAE ``"pixels"`` with
    ``objective.kind = "l2"``."""

    arch: str = "vit_base"
    """encoder/decoder preset (`sigma-video models`: `vit_tiny`, `vit_small`, `vit_base`,
    `vit_large`, `vit_huge`, `vit_giant`)"""
    grad_checkpointing: bool = False
    """recompute each block's activations in the backward pass (less memory)"""
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    decoder: DecoderSettings = field(default_factory=DecoderSettings)
    target: TargetSettings = field(default_factory=TargetSettings)
    objective: ObjectiveSettings = field(default_factory=ObjectiveSettings)

    def __post_init__(self) -> None:
        _one_of("model.arch", self.arch, list_models())


def target_freeze_steps(config: PretrainerConfig, steps_per_epoch: int) -> int:
    """How many first optimizer steps keep φ fixed: ``target.freeze_steps`` plus
    ``target.freeze_epochs`` epochs of ``steps_per_epoch`` (rounded). ``pretrain`` sets
    the model's ``freeze_target_steps`` from it once it knows the steps per epoch (a
    training loop of your own does the same; ``build_pretrainer`` counts the steps only)."""
    t = config.target
    return t.freeze_steps + round(t.freeze_epochs * steps_per_epoch)
