"""Forward warping (splatting) along optical flow, pure torch (Niklaus & Liu, CVPR 2020,
"Softmax Splatting for Video Frame Interpolation"; MGMAE warps its visibility maps so).

Each source pixel ``(x, y)`` sends its value to ``(x + u, y + v)``, shared bilinearly among
the four pixels around that point; values sent outside the frame are dropped. ``sum``
splatting adds the shares (mass is kept: a map's total is unchanged when nothing leaves the
frame); ``soft`` splatting weights each share by ``exp(metric)`` and normalises by the
total weight that arrived, so where several pixels land the one with the larger metric
dominates and a landing point gets a weighted mean of values (``metric`` None: all equal,
the plain average). Pixels nothing lands on get 0 and weight 0 (the holes).
"""

from __future__ import annotations

import torch
from torch import Tensor

SPLATS = ("sum", "soft")


def forward_warp(
    values: Tensor, flow: Tensor, mode: str = "soft", metric: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Splat ``values`` ``(C, H, W)`` along ``flow`` ``(2, H, W)`` (``flow[0]`` the x, ``flow[1]``
    the y displacement in pixels, from these pixels to the target frame).

    Returns ``(warped (C, H, W), coverage (H, W))``: the splatted values (``soft``: divided
    by the arrived weight) and the bilinear share that arrived at each pixel (0: a hole).
    ``metric`` ``(H, W)`` (``soft`` only): the importance of each source pixel."""
    if mode not in SPLATS:
        raise ValueError(f"splatting mode must be one of {SPLATS}, got {mode!r}")
    channels, height, width = values.shape
    if flow.shape != (2, height, width):
        raise ValueError(f"flow {tuple(flow.shape)} does not match values {tuple(values.shape)}")
    values, flow = values.float(), flow.float()
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=values.device),
        torch.arange(width, dtype=torch.float32, device=values.device),
        indexing="ij",
    )
    x, y = xs + flow[0], ys + flow[1]  # (H, W) landing points
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    importance = torch.ones_like(x)
    if mode == "soft" and metric is not None:
        importance = torch.exp(metric.float() - metric.float().max())  # overflow-safe, same ratios
    corners_x = torch.stack([x0, x0 + 1, x0, x0 + 1])  # (4, H, W): the four neighbours
    corners_y = torch.stack([y0, y0, y0 + 1, y0 + 1])
    shares = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    inside = (corners_x >= 0) & (corners_x < width) & (corners_y >= 0) & (corners_y < height)
    size = height * width
    # one scatter for all four neighbours; what falls outside goes to an extra bin, dropped
    target = torch.where(inside, corners_y * width + corners_x, size).long().flatten()
    share = (shares * inside).flatten()
    w = share * importance.flatten().repeat(4)

    def scatter(weights: Tensor) -> Tensor:
        return torch.bincount(target, weights, minlength=size + 1)[:size].float()

    flat = values.reshape(channels, -1).repeat(1, 4)  # (C, 4·H·W), in the order of ``target``
    out = torch.stack([scatter(flat[c] * w) for c in range(channels)])
    weight = scatter(w)  # importance-weighted
    coverage = scatter(share)  # bilinear shares only
    if mode == "soft":
        arrived = weight > 0
        out[:, arrived] /= weight[arrived]
    return out.view(channels, height, width), coverage.view(height, width)
