"""MGMAE masks made on the training device: the flow of each raw clip of a batch from a
device flow source (RAFT), then the generator the loader would use, from the per-view seeds
the loader drew (``mask_seed``), so a resumed run makes the same masks."""

from __future__ import annotations

import torch
from torch import Tensor

from sigma_video.flow.sources import FlowSource, make_flow_source
from sigma_video.masks.dual import DecoderMasks, decoder_seeds
from sigma_video.masks.mgmae import MGMAEMasks
from sigma_video.masks.token_mask import TokenMask


class DeviceFlowMasks:
    """``masks(video uint8 (B, 3, T, S, S) on the device, seeds (B,)) -> TokenMask`` on the
    device; ``source``: the flow source (default: the one ``generator.options`` names);
    ``decoder``: decoder masking, from seeds derived from the views' own."""

    def __init__(
        self,
        generator: MGMAEMasks,
        device: torch.device,
        source: FlowSource | None = None,
        decoder: DecoderMasks | None = None,
    ) -> None:
        self.generator, self.device, self.decoder = generator, device, decoder
        self.source = source or make_flow_source(generator.options, device)

    @torch.no_grad()
    def __call__(self, video: Tensor, seeds: Tensor) -> TokenMask:
        flows = [self.source(clip.permute(1, 2, 3, 0)) for clip in video]  # (T, S, S, 3) each
        mask = self.generator.from_seeds(seeds.tolist(), flows)
        if self.decoder is not None:
            mask = self.decoder(mask, decoder_seeds(seeds.tolist()))
        return mask.to(self.device)
