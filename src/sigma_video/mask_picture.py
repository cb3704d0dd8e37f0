"""Pictures of masks: a clip's frames with the masked tubes faded, one frame per time slot,
so a user sees where a mask kind hides and what it shows (``sigma-video masks``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sigma_video.masks.token_mask import TokenMask


def mask_strip(
    view: Tensor, mask: TokenMask, grid: tuple[int, int, int], fade: float = 0.7
) -> np.ndarray:
    """``uint8 (S, T'·S, 3)``: the first frame of each time slot of ``view`` ``uint8 (3, T,
    S, S)`` side by side, the masked tubes faded ``fade`` of the way to grey (128), the
    visible ones as they are. ``mask``: one clip's mask over ``grid``."""
    slots, rows, cols = grid
    _, frames, size, _ = view.shape
    tubelet, patch = frames // slots, size // rows
    visible = torch.zeros(slots * rows * cols, dtype=torch.bool)
    visible[mask.visible[0]] = True
    shown = visible.view(slots, rows, cols).repeat_interleave(patch, 1).repeat_interleave(patch, 2)
    tiles = []
    for slot in range(slots):
        frame = view[:, slot * tubelet].permute(1, 2, 0).float()  # (S, S, 3)
        keep = torch.where(shown[slot], 1.0, 1.0 - fade)[..., None]
        faded = frame * keep + 128.0 * (1.0 - keep)
        tiles.append(faded.round().clamp(0, 255).to(torch.uint8).numpy())
    return np.concatenate(tiles, axis=1)
