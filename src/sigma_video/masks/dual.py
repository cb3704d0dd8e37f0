"""Decoder masking (VideoMAE V2's dual masking): the decoder predicts, and the loss is
taken over, only a share of the masked tubes; the rest are left out of the decoder's
sequence, which saves its attention and MLP work and φ's and Sinkhorn's on them.

Which tubes are left out follows V2's *running cell* (``RunningCellMaskingGenerator``):
the grid is tiled by 2×2 cells of tokens; in each cell ``m = int(4·ratio)`` of the four
positions are left out, and the pattern shifts by one position from each time slot to the
next, from a random starting phase. V2 applies that pattern to every token and averages
the loss over the decoded tokens that were also hidden from the encoder, so the count per
clip varies with the encoder's mask. Here each clip keeps exactly
``N_mask - int(ratio·N_mask)`` of its masked tubes (so batches stay rectangular and
Sinkhorn sees a fixed number of codes): the masked tubes the cell keeps come first, and a
random tie-break fills or trims within a class. On odd grids the cell pattern is cut at
the border, as tiling then cropping would.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from sigma_video.masks.token_mask import TokenMask, check_grid

CELL = 4  # the tokens of a 2×2 cell


def check_decoder_ratio(ratio: float) -> None:
    """Raise ValueError unless ``ratio`` is 0 (off) or leaves out 1 to 3 tokens of each
    2×2 cell (``0.25 <= ratio < 1``), as V2's running cell requires."""
    if ratio != 0 and not 0 < int(CELL * ratio) < CELL:
        raise ValueError(
            f"mask.decoder_ratio must be 0 (off) or in [0.25, 1) (it leaves out "
            f"int(4·ratio) of each 2×2 cell of tokens), got {ratio}"
        )


def running_cell(grid: tuple[int, int, int], ratio: float, phase: int) -> Tensor:
    """``(T·H·W,)`` bool, True where the running cell at ``phase`` (0..3) leaves a token
    out of the decoder.

    Position ``p = 2·(h mod 2) + (w mod 2)`` of its cell is left out in time slot ``t``
    when ``(p + phase + t + 1) mod 4 < int(4·ratio)``: V2's cell queue of ``m`` ones and
    ``4 - m`` zeros, read from a pointer that advances once before each slot.
    """
    frames, height, width = check_grid(grid)
    check_decoder_ratio(ratio)
    t = torch.arange(frames).view(-1, 1, 1)
    h = torch.arange(height).view(1, -1, 1)
    w = torch.arange(width).view(1, 1, -1)
    position = 2 * (h % 2) + (w % 2)
    return ((position + phase + t + 1) % CELL < int(CELL * ratio)).flatten()


def decoded_count(num_masked: int, ratio: float) -> int:
    """Masked tubes per clip the decoder keeps: ``N_mask - int(ratio·N_mask)``; raises
    ValueError unless it keeps at least one and leaves out at least one."""
    check_decoder_ratio(ratio)
    left_out = int(ratio * num_masked)
    if ratio and not 0 < left_out < num_masked:
        raise ValueError(
            f"mask.decoder_ratio {ratio} leaves out {left_out} of {num_masked} masked tubes; "
            "it must leave out at least one and keep at least one"
        )
    return num_masked - left_out


def keep_for_decoder(masked: Tensor, left_out: Tensor, noise: Tensor, keep: int) -> Tensor:
    """The ``keep`` masked tubes of each clip the decoder predicts, sorted ascending.

    Args:
        masked: ``(V, N_mask)`` int64, the clips' masked token indices.
        left_out: ``(V, N)`` bool, True where the cell pattern leaves a token out.
        noise: ``(V, N_mask)`` in [0, 1), the tie-break within kept / left-out tubes.
        keep: tubes kept per clip.

    Returns:
        ``(V, keep)`` int64: the tubes the pattern keeps first, then (if too few) the
        left-out ones, each class in the order of ``noise``.
    """
    key = left_out.gather(1, masked).to(noise.dtype) + noise  # kept in [0, 1), out in [1, 2)
    chosen = key.argsort(dim=1)[:, :keep]
    return masked.gather(1, chosen).sort(dim=1).values


@dataclass(frozen=True)
class DecoderMasks:
    """Decoder masking over ``grid`` at ``ratio``: ``decoder(mask, seeds)`` is ``mask``
    with ``decoded`` set, each view's phase and tie-break drawn from its seed."""

    grid: tuple[int, int, int]
    ratio: float

    def __post_init__(self) -> None:
        check_decoder_ratio(self.ratio)
        if self.ratio == 0:
            raise ValueError("DecoderMasks needs a decoder ratio > 0 (0 turns it off)")

    def __call__(self, mask: TokenMask, seeds: Sequence[int]) -> TokenMask:
        views, num_masked = mask.masked.shape
        if len(seeds) != views:
            raise ValueError(f"decoder masks need one seed per view: {len(seeds)} for {views}")
        keep = decoded_count(num_masked, self.ratio)
        patterns, noise = [], []
        for seed in seeds:
            generator = torch.Generator().manual_seed(int(seed))
            phase = int(torch.randint(CELL, (1,), generator=generator))
            patterns.append(running_cell(self.grid, self.ratio, phase))
            noise.append(torch.rand(num_masked, generator=generator))
        masked = mask.masked.cpu()
        decoded = keep_for_decoder(masked, torch.stack(patterns), torch.stack(noise), keep)
        return replace(mask, decoded=decoded.to(mask.masked.device))


def decoder_seeds(mask_seeds: Sequence[int]) -> list[int]:
    """The decoder masks' seeds of masks made from ``mask_seeds`` on the device (MGMAE with
    RAFT): derived from each view's seed, apart from the stream its mask draws."""
    return [random.Random(f"decoder {seed}").getrandbits(62) for seed in mask_seeds]
