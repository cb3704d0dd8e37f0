"""The pretraining config: the model's, the data's, the optimizer's and the run's settings
(``[model]``, ``[data]``, ``[optim]``, ``[run]``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from sigma_video.config import load_config
from sigma_video.data.config import DataConfig
from sigma_video.data.step_decode import check_step_decode
from sigma_video.engine.config import BaseRunConfig, OptimConfig
from sigma_video.pretrainer import PretrainerConfig


@dataclass
class RunConfig(BaseRunConfig):
    """Pretraining run settings; ``probe_after`` (the demo) ends the run with a linear
    probe of the encoder against its random initialisation. ``init``: start from the
    weights of an official pretraining ``.pth``, one of our checkpoint folders or runs
    (weights only: optimizer, step and schedule start fresh; ``--resume`` continues a run
    exactly)."""

    probe_after: bool = False
    init: str | None = None

    SESSION_KEYS = (*BaseRunConfig.SESSION_KEYS, "probe_after")


@dataclass
class PretrainConfig:
    """A pretraining run's settings: ``[model]`` (``PretrainerConfig``), ``[data]``,
    ``[optim]``, ``[run]``."""

    # keys of run configs saved by earlier versions (``config.upgrade_saved``)
    EARLIER_KEYS: ClassVar[dict[str, str]] = {"model.targets": "model.codes"}

    model: PretrainerConfig = field(default_factory=PretrainerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.data.decode_in == "step":  # before anything runs, not in a loader worker
            check_step_decode(self.model.mask, self.model.flow_options.on_device)

    def resolved(self) -> PretrainConfig:
        """This config with the values it leaves to be derived filled in: the model's
        ``num_frames``/``img_size`` (None) are the data's clip. A run saves and compares
        its resolved config, so a request that resolves to the run's own is no change."""
        m = self.model
        model = dataclasses.replace(
            m,
            num_frames=self.data.num_frames if m.num_frames is None else m.num_frames,
            img_size=self.data.size if m.img_size is None else m.img_size,
        )
        return dataclasses.replace(self, model=model)


def load_pretrain_config(
    preset: str | None = None, overrides: list[str] | None = None
) -> PretrainConfig:
    """A pretraining config: the defaults, then ``preset`` (a name in
    ``sigma_video/configs`` or a .toml/.json path, a run's ``config.json`` included), then
    dotted ``key=value`` overrides (``sigma_video.config.load_config``)."""
    return load_config(preset, overrides, cls=PretrainConfig)
