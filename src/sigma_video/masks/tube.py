"""Tube masking (VideoMAE, the SIGMA reference): one random spatial mask per clip, repeated
over all time slots, so a masked tube cannot be copied from the frames before or after."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from sigma_video.masks.token_mask import (
    PerSlotMasks,
    TokenMask,
    check_grid,
    masked_count,
    random_permutations,
)


def tube_mask(
    batch_size: int,
    grid: tuple[int, int, int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> TokenMask:
    """Random tube masking of a batch: one random spatial mask per clip, in every time slot.

    Args:
        batch_size: number of clips B.
        grid: token grid ``(T, H, W)``.
        ratio: share of each time slot's ``H·W`` tokens to mask, in (0, 1).
        generator: optional RNG for reproducible masks (on any device; the indices are
            drawn there and moved to ``device``).
        device: where the indices are made (the batch's device).

    Returns:
        A ``TokenMask`` with ``T·int(ratio·H·W)`` masked tokens per clip.
    """
    frames, height, width = check_grid(grid)
    per_slot = height * width
    count = masked_count(ratio, per_slot)
    order = random_permutations(batch_size, per_slot, generator, device)  # (B, H·W)
    offsets = torch.arange(frames, device=order.device) * per_slot  # (T,)

    def expand(spatial: Tensor) -> Tensor:  # (B, S) sorted -> (B, T·S) sorted
        return (offsets[None, :, None] + spatial[:, None, :]).flatten(1)

    masked = order[:, :count].sort(dim=1).values
    visible = order[:, count:].sort(dim=1).values
    return TokenMask(visible=expand(visible), masked=expand(masked))


@dataclass(frozen=True)
class TubeMasks(PerSlotMasks):
    """The tube masks of one sample's views over ``grid`` at ``ratio``; they read nothing
    of the clip."""

    reads: ClassVar[str | None] = None

    def __call__(self, rng: random.Random, views: int, motion: None = None) -> TokenMask:
        """``(views, N_vis)`` / ``(views, N_mask)`` masks, all drawn from one seed of ``rng``."""
        generator = torch.Generator().manual_seed(rng.getrandbits(62))
        return tube_mask(views, self.grid, self.ratio, generator=generator)
