"""Plain random token masking: each clip hides ``int(ratio · N)`` of all its ``N = T·H·W``
tokens, drawn anywhere in space and time (no count per time slot)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

import torch

from sigma_video.masks.token_mask import (
    TokenMask,
    check_grid,
    masked_count,
    random_permutations,
)


def random_mask(
    batch_size: int,
    grid: tuple[int, int, int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> TokenMask:
    """Random masks of a batch of ``batch_size`` clips over ``grid`` ``(T, H, W)``:
    ``int(ratio · T·H·W)`` masked tokens per clip (``generator``, ``device``: as
    ``tube_mask``)."""
    frames, height, width = check_grid(grid)
    total = frames * height * width
    count = masked_count(ratio, total, "per clip")
    order = random_permutations(batch_size, total, generator, device)  # (B, N)
    return TokenMask(
        visible=order[:, count:].sort(dim=1).values, masked=order[:, :count].sort(dim=1).values
    )


@dataclass(frozen=True)
class RandomMasks:
    """The random masks of one sample's views over ``grid`` at ``ratio``; they read nothing
    of the clip."""

    grid: tuple[int, int, int]
    ratio: float
    reads: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        self.num_masked  # noqa: B018 - checks the grid and the ratio

    @property
    def num_masked(self) -> int:
        """Masked tokens per clip: ``int(ratio · T·H·W)`` (spread unevenly over the slots)."""
        frames, height, width = check_grid(self.grid)
        return masked_count(self.ratio, frames * height * width, "per clip")

    def __call__(self, rng: random.Random, views: int, motion: None = None) -> TokenMask:
        """``(views, N_vis)`` / ``(views, N_mask)`` masks, all drawn from one seed of ``rng``."""
        generator = torch.Generator().manual_seed(rng.getrandbits(62))
        return random_mask(views, self.grid, self.ratio, generator=generator)
