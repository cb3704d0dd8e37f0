"""The clip a model is trained on (``ClipSpec``): the one description of a clip that the
data settings, the training views and every saved model share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sigma_video.data.dataset import ClipConfig


@dataclass(frozen=True)
class ClipSpec:
    """The clips a model was trained on: ``num_frames`` frames ``stride`` apart, ``size``²."""

    num_frames: int = 16
    stride: int = 4
    size: int = 224

    @classmethod
    def of(cls, settings: Any) -> ClipSpec:
        """From a dict or an object with the three fields (a ``DataConfig``)."""
        get = settings.get if isinstance(settings, dict) else lambda k: getattr(settings, k)
        return cls(int(get("num_frames")), int(get("stride")), int(get("size")))

    def view(self, crop: str = "center", **options: Any) -> ClipConfig:
        """The ``ClipConfig`` that cuts such clips (centre crop unless told otherwise)."""
        return ClipConfig(
            num_frames=self.num_frames, stride=self.stride, size=self.size, crop=crop, **options
        )

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)
