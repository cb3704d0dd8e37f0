"""Random erasing of normalised clips as VideoMAE fine-tunes: probability 0.25, "pixel"
mode, and its *cube* mode — one box per clip, the same through all frames (up to 100
attempts to fit one), each frame's pixels filled with fresh N(0, 1) noise. The box comes
from the ``random.Random`` passed in; the noise from a seeded generator."""

from __future__ import annotations

import math
import random

import torch
from torch import Tensor

Box = tuple[int, int, int, int]  # top, left, height, width


def erase_box(
    height: int,
    width: int,
    rng: random.Random,
    area: tuple[float, float] = (0.02, 1 / 3),
    ratio: tuple[float, float] = (0.3, 1 / 0.3),
    attempts: int = 100,
) -> Box | None:
    """A box of a random share of the frame (``area``) and log-uniform aspect ``ratio``
    that fits strictly inside it; None when ``attempts`` draws all fail."""
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(attempts):
        target = rng.uniform(*area) * height * width
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        h = round(math.sqrt(target * aspect))
        w = round(math.sqrt(target / aspect))
        if w < width and h < height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    return None


def random_erase(video: Tensor, prob: float, rng: random.Random) -> Tensor:
    """Erase one box per clip with probability ``prob``, filled with N(0, 1) noise per
    pixel, channel and frame. ``video``: normalised ``(B, C, T, H, W)``; a new tensor."""
    if prob <= 0:
        return video
    out = video.clone()
    height, width = video.shape[-2:]
    generator = torch.Generator(device=video.device).manual_seed(rng.getrandbits(62))
    for b in range(len(video)):
        if rng.random() >= prob:
            continue
        box = erase_box(height, width, rng)
        if box is None:
            continue
        top, left, h, w = box
        shape = (*video.shape[1:3], h, w)
        noise = torch.randn(shape, generator=generator, device=video.device, dtype=video.dtype)
        out[b, :, :, top : top + h, left : left + w] = noise
    return out
