"""MGM (Fan et al., ICCV 2023): motion-guided masking from the codec's motion vectors. In
every time slot the tubes that move most are hidden, as many as tube masking hides.

The motion is what H.264/HEVC already store: the dataset decodes each clip with its motion
vectors (``data.motion``) and cuts each view's motion map as it cuts the view's frames, so
no flow is computed and nothing runs on the accelerator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from sigma_video.masks.token_mask import PerSlotMasks, TokenMask, masked_count


def tube_motion(motion: Tensor, tubelet: int, patch: int) -> Tensor:
    """``(T, H, W)`` per-pixel motion -> ``(T/tubelet, H/patch, W/patch)`` mean per tube."""
    t, h, w = motion.shape
    if t % tubelet or h % patch or w % patch:
        raise ValueError(
            f"motion map {(t, h, w)} does not tile into {tubelet}×{patch}×{patch} tubes"
        )
    tubes = motion.reshape(t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    return tubes.float().mean(dim=(1, 3, 5))


def motion_guided_mask(
    motion: Tensor, ratio: float, rng: random.Random, jitter: float = 0.0
) -> TokenMask:
    """MGM's mask for one clip: in every time slot, hide the ``int(ratio · H·W)`` tubes
    that move most (the tube mask's count, so the loss sees as many tubes), ties broken at
    random; ``jitter`` (≥ 0) adds uniform noise of that many times the slot's largest motion
    before ranking, so a static clip degrades to random masking.

    ``motion``: ``(T', H', W')`` per-tube motion. Returns a ``TokenMask`` of one clip
    (``(1, N_vis)`` visible and ``(1, N_mask)`` masked raster indices, ascending)."""
    slots, h, w = motion.shape
    per_slot = h * w
    count = masked_count(ratio, per_slot)
    generator = torch.Generator().manual_seed(rng.getrandbits(63))
    masked = []
    for slot in range(slots):
        values = motion[slot].flatten().double()
        top = float(values.max()) if len(values) else 0.0
        noise = torch.rand(per_slot, generator=generator, dtype=torch.float64)
        score = values + (jitter * max(top, 1e-12) + 1e-9) * noise  # ties: random order
        chosen = torch.topk(score, count).indices
        masked.append(chosen + slot * per_slot)
    hidden = torch.sort(torch.cat(masked)).values
    keep = torch.ones(slots * per_slot, dtype=torch.bool)
    keep[hidden] = False
    visible = torch.nonzero(keep).flatten()
    return TokenMask(visible=visible[None], masked=hidden[None])


@dataclass(frozen=True)
class MGMMasks(PerSlotMasks):
    """The MGM masks of one sample's views over ``grid`` at ``ratio``, from each view's
    codec motion (``reads = "codec"``)."""

    reads: ClassVar[str | None] = "codec"

    def __call__(self, rng: random.Random, views: int, motion: Tensor) -> TokenMask:
        """``(views, N_vis)`` / ``(views, N_mask)`` masks from ``motion`` ``float32 (views,
        T, S, S)``, each view's per-pixel codec motion; one draw of ``rng`` per view."""
        if motion is None or len(motion) != views:
            raise ValueError(f"MGM masks need the codec motion of each of the {views} views")
        frames, size = motion.shape[1], motion.shape[-1]
        tubelet, patch = frames // self.grid[0], size // self.grid[1]
        return TokenMask.cat(
            [motion_guided_mask(tube_motion(m, tubelet, patch), self.ratio, rng) for m in motion]
        )
