"""Tube embedding: a Conv3d whose kernel equals its stride."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class TubeEmbed(nn.Module):
    """``(B, C, T, H, W) -> (B, N, D)`` with ``N = T/tubelet · H/patch · W/patch``, raster order.

    ``embed_tubes`` embeds tubes already cut out (``tubes.video_to_tubes``, flattened in
    ``(tubelet, patch, patch, C)`` order): the same numbers as the convolution, for only the
    tubes given — a tenth of its cost for the visible tubes at 90 % masking.
    """

    def __init__(self, in_chans: int, dim: int, tubelet: int, patch: int) -> None:
        super().__init__()
        self.tubelet, self.patch = tubelet, patch
        size = (tubelet, patch, patch)
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=size, stride=size)

    def forward(self, video: Tensor) -> Tensor:
        return self.proj(video).flatten(2).transpose(1, 2)  # (B, N, D)

    def embed_tubes(self, tubes: Tensor) -> Tensor:
        """``(B, M, tubelet·patch·patch·C) -> (B, M, D)``."""
        weight = self.proj.weight.permute(0, 2, 3, 4, 1).flatten(1)  # (D, t·p·p·C)
        return F.linear(tubes, weight, self.proj.bias)
