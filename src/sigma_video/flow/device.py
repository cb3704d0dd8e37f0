"""MGMAE masks made on the training device: the flow of each raw clip of a batch from a
device flow source (RAFT), then the same ``flow_guided_mask`` the loader uses, seeded per
view by the loader (``mask_seed``), so a resumed run makes the same masks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sigma_video.data.dataset import MaskConfig, flow_masks
from sigma_video.flow.sources import make_flow_source
from sigma_video.masking import TokenMask

FlowSource = Callable[[Tensor], tuple[Tensor, Tensor]]


class DeviceFlowMasks:
    """``masks(video uint8 (B, 3, T, S, S) on the device, seeds (B,)) -> TokenMask``."""

    def __init__(
        self, mask: MaskConfig, device: torch.device, source: FlowSource | None = None
    ) -> None:
        self.mask, self.device = mask, device
        self.source = source or make_flow_source(mask.flow, device)

    @torch.no_grad()
    def __call__(self, video: Tensor, seeds: Tensor) -> TokenMask:
        _, _, frames, size, _ = video.shape
        flows = [self.source(clip.permute(1, 2, 3, 0)) for clip in video]  # (T, S, S, 3) each
        masks = flow_masks(flows, seeds.tolist(), self.mask, frames, size)
        return masks.to(self.device)
