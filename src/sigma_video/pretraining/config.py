"""The pretraining config: the model's, the masks', the data's, the optimizer's and the
run's settings (``[model]``, ``[mask]``, ``[data]``, ``[optim]``, ``[run]``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from sigma_video.config import load_config
from sigma_video.data.config import DataConfig
from sigma_video.data.step_decode import check_step_decode
from sigma_video.engine.config import BaseRunConfig, OptimConfig
from sigma_video.masks.builder import MaskSettings
from sigma_video.models.config import PretrainerConfig

PARALLEL = ("ddp", "fsdp")


@dataclass
class RunConfig(BaseRunConfig):
    """Pretraining run settings; ``probe_after`` (the demo) ends the run with a linear
    probe of the encoder against its random initialisation. ``init``: start from the
    weights of an official pretraining ``.pth``, one of our checkpoint folders or runs
    (weights only: optimizer, step and schedule start fresh; ``--resume`` continues a run
    exactly)."""

    probe_after: bool = False
    """after a run on the embedded dataset, a linear probe of the encoder against its random
    initialisation"""
    init: str | None = None
    """start from these weights (official `.pth`, checkpoint folder or run), with a fresh optimizer
    and schedule"""

    parallel: str = "ddp"
    """`ddp` (every rank holds the whole model) or `fsdp` (FSDP2: weights, gradients and AdamW
    state sharded over the ranks, checkpoints sharded with DCP)"""
    reshard_after_forward: bool = True
    """FSDP2: free each block's gathered weights after its forward and gather them again for
    the backward (less memory, more communication)"""

    SESSION_KEYS = (*BaseRunConfig.SESSION_KEYS, "probe_after", "reshard_after_forward")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.parallel not in PARALLEL:
            raise ValueError(f"run.parallel must be one of {PARALLEL}, got {self.parallel!r}")
        if self.parallel == "fsdp" and self.precision == "fp16":
            raise ValueError(
                "run.parallel=fsdp trains in bf16 or fp32; fp16's grad scaler is not sharded"
            )


@dataclass
class PretrainConfig:
    """A pretraining run's settings: ``[model]`` (``PretrainerConfig``), ``[mask]``,
    ``[data]``, ``[optim]``, ``[run]``."""

    # keys of run configs saved by earlier versions (``config.upgrade_saved``)
    EARLIER_KEYS: ClassVar[dict[str, str]] = {
        "model.targets": "model.objective.codes",
        "model.model": "model.arch",
        "model.num_frames": "model.encoder.num_frames",
        "model.img_size": "model.encoder.img_size",
        "model.patch": "model.encoder.patch",
        "model.drop_path": "model.encoder.drop_path",
        "model.decoder_depth": "model.decoder.depth",
        "model.target": "model.target.kind",
        "model.projection": "model.target.projection",
        "model.projection_dim": "model.target.dim",
        "model.freeze_target_steps": "model.target.freeze_steps",
        "model.freeze_target_epochs": "model.target.freeze_epochs",
        "model.dino_arch": "model.target.dino_arch",
        "model.dino_weights": "model.target.dino_weights",
        "model.dino_frames": "model.target.dino_frames",
        "model.dino_precision": "model.target.dino_precision",
        "model.objective": "model.objective.kind",
        "model.num_prototypes": "model.objective.num_prototypes",
        "model.freeze_prototypes_steps": "model.objective.freeze_prototypes_steps",
        "model.temperature": "model.objective.temperature",
        "model.epsilon": "model.objective.epsilon",
        "model.sinkhorn_iterations": "model.objective.sinkhorn_iterations",
        "model.codes": "model.objective.codes",
        "model.mask": "mask.kind",
        "model.mask_ratio": "mask.ratio",
        "model.flow": "mask.flow.source",
        "model.flow_weights": "mask.flow.weights",
        "model.flow_init": "mask.flow.init",
        "model.flow_base": "mask.flow.base",
        "model.flow_holes": "mask.flow.holes",
        "model.flow_exposure": "mask.flow.exposure",
    }

    model: PretrainerConfig = field(default_factory=PretrainerConfig)
    mask: MaskSettings = field(default_factory=MaskSettings)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.data.decode_in == "step":  # before anything runs, not in a loader worker
            check_step_decode(self.mask.kind, self.mask.flow.on_device)

    def resolved(self) -> PretrainConfig:
        """This config with the values it leaves to be derived filled in: the encoder's
        ``num_frames``/``img_size`` (None) are the data's clip. A run saves and compares
        its resolved config, so a request that resolves to the run's own is no change."""
        e = self.model.encoder
        encoder = dataclasses.replace(
            e,
            num_frames=self.data.num_frames if e.num_frames is None else e.num_frames,
            img_size=self.data.size if e.img_size is None else e.img_size,
        )
        return dataclasses.replace(self, model=dataclasses.replace(self.model, encoder=encoder))


def load_pretrain_config(
    preset: str | None = None, overrides: list[str] | None = None
) -> PretrainConfig:
    """A pretraining config: the defaults, then ``preset`` (a name in
    ``sigma_video/configs`` or a .toml/.json path, a run's ``config.json`` included), then
    dotted ``key=value`` overrides (``sigma_video.config.load_config``)."""
    return load_config(preset, overrides, cls=PretrainConfig)
