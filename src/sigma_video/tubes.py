"""Space-time tubes: cutting clips into the tokens' pixel blocks and normalising them.

A clip ``(B, C, T, H, W)`` is cut into tubes of ``tubelet × patch × patch`` pixels, ordered
like the tube embedding's tokens (``t, h, w`` raster order). Each tube's pixels are flattened
in ``(p0, p1, p2, c)`` order: channel last, as the reference code's
``rearrange('b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c')`` — so 1536 values for
2×16×16×3 — which is the layout pixel-predicting checkpoints expect.
"""

from __future__ import annotations

import torch
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def token_grid(
    frames: int, height: int, width: int, tubelet: int, patch: int
) -> tuple[int, int, int]:
    """Token grid ``(T', H', W')`` of a clip; raises if the clip does not tile exactly."""
    if frames % tubelet or height % patch or width % patch:
        raise ValueError(
            f"clip of {frames} frames × {height}×{width} does not tile into tubes of "
            f"{tubelet}×{patch}×{patch}: frames must be a multiple of {tubelet} and "
            f"height/width multiples of {patch}"
        )
    return frames // tubelet, height // patch, width // patch


def video_to_tubes(video: Tensor, tubelet: int, patch: int) -> Tensor:
    """Cut clips into tubes: ``(B, C, T, H, W) -> (B, N, tubelet·patch·patch, C)``."""
    b, c, t, h, w = video.shape
    gt, gh, gw = token_grid(t, h, w, tubelet, patch)
    x = video.reshape(b, c, gt, tubelet, gh, patch, gw, patch)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, T', H', W', p0, p1, p2, C)
    return x.reshape(b, gt * gh * gw, tubelet * patch * patch, c)


def unnormalize(
    video: Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Tensor:
    """Undo per-channel normalisation of ``(B, C, T, H, W)`` clips: ``x·std + mean``."""
    shape = (1, -1, 1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=video.dtype, device=video.device).view(shape)
    std_t = torch.as_tensor(std, dtype=video.dtype, device=video.device).view(shape)
    return video * std_t + mean_t


def standardize_tokens(x: Tensor, dim: int, eps: float = 1e-6) -> Tensor:
    """``(x - mean) / (std + eps)`` along ``dim``, std unbiased, eps outside the square root.

    This is the reference code's normalisation of tube pixels (``dim`` = the pixels of a
    tube) and of DINO targets (``dim`` = the tokens of a video).
    """
    mean = x.mean(dim=dim, keepdim=True)
    std = x.var(dim=dim, unbiased=True, keepdim=True).sqrt()
    return (x - mean) / (std + eps)


def normalized_tube_pixels(
    video: Tensor,
    tubelet: int = 2,
    patch: int = 16,
    *,
    mean: tuple[float, ...] | None = IMAGENET_MEAN,
    std: tuple[float, ...] | None = IMAGENET_STD,
    eps: float = 1e-6,
) -> Tensor:
    """Per-tube normalised pixels, the input of φ-MLP and the VideoMAE pixel target.

    Args:
        video: ``(B, C, T, H, W)`` clips normalised with ``mean``/``std`` (ImageNet by
            default; pass ``None`` for clips already in [0, 1]).

    Returns:
        ``(B, N, tubelet·patch·patch·C)`` float32: each tube's pixels standardised per
        channel over the tube's ``tubelet·patch·patch`` pixels, flattened ``(p0 p1 p2 c)``.
    """
    with torch.autocast(video.device.type, enabled=False):
        video = video.float()
        if mean is not None and std is not None:
            video = unnormalize(video, mean, std)
        tubes = standardize_tokens(video_to_tubes(video, tubelet, patch), dim=-2, eps=eps)
    return tubes.flatten(2)
