"""Tube embedding: a Conv3d whose kernel equals its stride."""

from __future__ import annotations

from torch import Tensor, nn


class TubeEmbed(nn.Module):
    """``(B, C, T, H, W) -> (B, N, D)`` with ``N = T/tubelet · H/patch · W/patch``, raster order."""

    def __init__(self, in_chans: int, dim: int, tubelet: int, patch: int) -> None:
        super().__init__()
        self.tubelet, self.patch = tubelet, patch
        size = (tubelet, patch, patch)
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=size, stride=size)

    def forward(self, video: Tensor) -> Tensor:
        return self.proj(video).flatten(2).transpose(1, 2)  # (B, N, D)
