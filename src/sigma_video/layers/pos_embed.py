"""Fixed sinusoid position tables (VideoMAE / SIGMA) and their resampling to new grids."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sinusoid_table(
    num_positions: int, dim: int, device: torch.device | str | None = None
) -> Tensor:
    """The Transformer sinusoid table over flattened token indices, ``(num_positions, dim)``.

    ``table[p, j] = sin(p / 10000^(2⌊j/2⌋/dim))`` for even ``j`` and ``cos(·)`` for odd ``j`` —
    the table VideoMAE and SIGMA add to the tubes in ``(t, h, w)`` raster order. Computed in
    float64 and returned as float32.
    """
    if num_positions < 1 or dim < 1:
        raise ValueError(f"need num_positions >= 1 and dim >= 1, got {num_positions}, {dim}")
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]  # on the CPU:
    exponent = 2 * (torch.arange(dim) // 2).double() / dim  # float64 is not on every device
    angle = position / torch.pow(10000.0, exponent)[None, :]  # (P, D)
    table = torch.where(torch.arange(dim) % 2 == 0, angle.sin(), angle.cos())
    return table.float().to(device)


def resample_table(
    table: Tensor, source: tuple[int, int, int], target: tuple[int, int, int]
) -> Tensor:
    """Resample a position table from one token grid to another by trilinear interpolation.

    Args:
        table: ``(T·H·W, D)`` table for the ``source`` grid ``(T, H, W)``, raster order.
        target: the new grid ``(T', H', W')``.

    Returns:
        ``(T'·H'·W', D)`` table, same dtype. Identity when the grids are equal. Used for
        learned tables and for evaluating at a grid different from the training grid when
        positions should keep their spatial meaning (``pos_table="interpolate"``).
    """
    if table.shape[0] != source[0] * source[1] * source[2]:
        raise ValueError(f"table has {table.shape[0]} rows but grid {source} has a different size")
    if tuple(source) == tuple(target):
        return table
    dim = table.shape[1]
    grid = table.float().T.reshape(1, dim, *source)  # (1, D, T, H, W)
    out = F.interpolate(grid, size=tuple(target), mode="trilinear", align_corners=False)
    return out.reshape(dim, -1).T.to(table.dtype)
