"""Spatial augmentation on uint8 frames: crop boxes are pure functions of a seed.

Frames are ``uint8 (T, H, W, 3)`` as decoded; a box is ``(top, left, height, width)``.
``crop_resize`` cuts a box from every frame and resizes it to ``size × size``, returning
``uint8 (3, T, size, size)`` — the model's channel-first layout — so clips travel to the
training device as bytes; ``normalize`` makes the float ImageNet-normalised clip there.
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch import Tensor

from sigma_video.tubes import IMAGENET_MEAN, IMAGENET_STD

Box = tuple[int, int, int, int]  # top, left, height, width
MULTISCALE_SCALES = (1.0, 0.875, 0.75, 0.66)


def multiscale_crop_box(
    height: int,
    width: int,
    rng: random.Random,
    size: int = 224,
    scales: tuple[float, ...] = MULTISCALE_SCALES,
    max_distort: int = 1,
    more_fix_crop: bool = True,
) -> Box:
    """The reference pretraining crop (TSN/VideoMAE ``GroupMultiScaleCrop``).

    Side lengths are ``int(min(H, W) · scale)`` (snapped to ``size`` when within 3 pixels),
    height and width picked from scales at most ``max_distort`` apart; the offset is one of
    the 5 (corners + centre) or, with ``more_fix_crop``, 13 fixed positions on a 4×4 grid.
    """
    base = min(height, width)
    sides = [int(base * s) for s in scales]
    sides = [size if abs(s - size) < 3 else s for s in sides]
    pairs = [
        (h, w)
        for i, h in enumerate(sides)
        for j, w in enumerate(sides)
        if abs(i - j) <= max_distort
    ]
    crop_h, crop_w = rng.choice(pairs)
    crop_h, crop_w = min(crop_h, height), min(crop_w, width)
    left, top = rng.choice(fixed_offsets(height, width, crop_h, crop_w, more_fix_crop))
    return top, left, crop_h, crop_w


def fixed_offsets(
    height: int, width: int, crop_h: int, crop_w: int, more_fix_crop: bool = True
) -> list[tuple[int, int]]:
    """``(left, top)`` positions of the multi-scale crop: corners, centre and (optionally)
    the 8 positions between them, in quarter steps of the free space."""
    ws, hs = (width - crop_w) // 4, (height - crop_h) // 4
    out = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
    if more_fix_crop:
        out += [
            (0, 2 * hs),
            (4 * ws, 2 * hs),
            (2 * ws, 4 * hs),
            (2 * ws, 0),
            (ws, hs),
            (3 * ws, hs),
            (ws, 3 * hs),
            (3 * ws, 3 * hs),
        ]
    return out


def random_resized_crop_box(
    height: int,
    width: int,
    rng: random.Random,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> Box:
    """Inception-style crop: random area share and log-uniform aspect ratio (10 tries),
    else the largest centred box with the nearest allowed aspect ratio."""
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def spatial_crop_boxes(height: int, width: int, num_crops: int = 3) -> list[Box]:
    """Evaluation crops: ``num_crops`` squares of side ``min(H, W)`` spread evenly along the
    long side (3 crops: left/centre/right or top/centre/bottom); 1 crop is the centre."""
    side = min(height, width)
    free_h, free_w = height - side, width - side
    if num_crops == 1:
        return [(free_h // 2, free_w // 2, side, side)]
    steps = [i / (num_crops - 1) for i in range(num_crops)]
    return [(round(s * free_h), round(s * free_w), side, side) for s in steps]


def crop_resize(frames: Tensor, box: Box, size: int, flip: bool = False) -> Tensor:
    """Cut ``box`` from ``uint8 (T, H, W, 3)`` frames, resize (bilinear, antialiased) to
    ``size × size``, optionally flip horizontally; returns ``uint8 (3, T, size, size)``."""
    top, left, h, w = box
    # (T, 3, h, w) viewed channels-last: PyTorch's fast uint8 antialiased resize (≈ 10× the
    # float path, within 1 grey level of it)
    x = frames[:, top : top + h, left : left + w].permute(0, 3, 1, 2)
    if (h, w) != (size, size):
        uint8 = x.device.type == "cpu"  # CUDA's antialiased resize takes floats only
        x = F.interpolate(
            x if uint8 else x.float(),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        if not uint8:
            x = x.round_().clamp_(0, 255).to(torch.uint8)
    if flip:
        x = x.flip(-1)
    return x.transpose(0, 1).contiguous()  # (3, T, size, size)


def crop_resize_map(maps: Tensor, box: Box, size: int, flip: bool = False) -> Tensor:
    """``crop_resize`` for per-pixel maps ``(T, H, W)`` (e.g. the codec's motion): the same
    box, resize (bilinear, antialiased, in float) and flip as the frames; returns
    ``float32 (T, size, size)``."""
    top, left, h, w = box
    x = maps[:, None, top : top + h, left : left + w].float()  # (T, 1, h, w)
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    if flip:
        x = x.flip(-1)
    return x[:, 0]


def normalize(
    clips: Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``uint8 (B, 3, T, H, W)`` clips -> ``(x / 255 - mean) / std`` in ``dtype``."""
    shape = (1, -1, 1, 1, 1)
    m = torch.as_tensor(mean, dtype=dtype, device=clips.device).view(shape)
    s = torch.as_tensor(std, dtype=dtype, device=clips.device).view(shape)
    return (clips.to(dtype) / 255.0 - m) / s
