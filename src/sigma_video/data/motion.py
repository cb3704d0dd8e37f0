"""Motion from the codec: the motion vectors H.264/HEVC already store, as per-pixel and
per-tube magnitudes (pure functions), and the mask that hides the tubes that move most
(MGM, Fan et al. ICCV 2023: motion-guided masking from codec motion vectors).

PyAV exports a decoded frame's vectors when the decoder runs with ``flags2=+export_mvs``
(``PyAVBackend.decode_motion``); each row is one block: its size ``w × h``, its centre in
this frame ``(dst_x, dst_y)`` and its displacement ``(motion_x, motion_y) / motion_scale``
pixels from the reference frame. Intra frames carry none (zero motion).
"""

from __future__ import annotations

import random

import numpy as np
import torch

from sigma_video.masking import TokenMask, check_ratio


def motion_magnitude(vectors: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """``float32 (height, width)``: for each pixel, the largest displacement (pixels) of the
    codec blocks that cover it; 0 where no block moved (and for a frame without vectors).

    ``vectors``: the structured array of ``MotionVectors.to_ndarray()`` (fields ``w``,
    ``h``, ``dst_x``, ``dst_y``, ``motion_x``, ``motion_y``, ``motion_scale``)."""
    out = np.zeros((height, width), np.float32)
    if vectors is None or len(vectors) == 0:
        return out
    scale = np.maximum(vectors["motion_scale"].astype(np.float32), 1.0)
    dx = vectors["motion_x"].astype(np.float32) / scale
    dy = vectors["motion_y"].astype(np.float32) / scale
    magnitude = np.hypot(dx, dy)
    for (w, h, cx, cy), value in zip(
        vectors[["w", "h", "dst_x", "dst_y"]].tolist(), magnitude.tolist(), strict=True
    ):
        if value <= 0:
            continue
        top, left = max(cy - h // 2, 0), max(cx - w // 2, 0)
        block = out[top : cy - h // 2 + h, left : cx - w // 2 + w]
        np.maximum(block, value, out=block)
    return out


def tube_motion(motion: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """``(T, H, W)`` per-pixel motion -> ``(T/tubelet, H/patch, W/patch)`` mean per tube."""
    t, h, w = motion.shape
    if t % tubelet or h % patch or w % patch:
        raise ValueError(
            f"motion map {(t, h, w)} does not tile into {tubelet}×{patch}×{patch} tubes"
        )
    tubes = motion.reshape(t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    return tubes.float().mean(dim=(1, 3, 5))


def motion_guided_mask(
    motion: torch.Tensor, ratio: float, rng: random.Random, jitter: float = 0.0
) -> TokenMask:
    """MGM's mask for one clip: in every time slot, hide the ``int(ratio · H·W)`` tubes
    that move most (the tube mask's count, so the loss sees as many tubes), ties broken at
    random; ``jitter`` (≥ 0) adds uniform noise of that many times the slot's largest motion
    before ranking, so a static clip degrades to random masking.

    ``motion``: ``(T', H', W')`` per-tube motion. Returns a ``TokenMask`` of one clip
    (``(1, N_vis)`` visible and ``(1, N_mask)`` masked raster indices, ascending)."""
    check_ratio(ratio)
    slots, h, w = motion.shape
    per_slot = h * w
    count = int(ratio * per_slot)
    if not 0 < count < per_slot:
        raise ValueError(
            f"mask ratio {ratio} masks {count} of {per_slot} tubes per time slot; "
            "it must leave at least one masked and one visible"
        )
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
