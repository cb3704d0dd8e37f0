"""Motion from the codec: the motion vectors H.264/HEVC already store, as per-pixel
magnitudes (a pure function; the MGM masks made from them are ``masks.mgm``).

PyAV exports a decoded frame's vectors when the decoder runs with ``flags2=+export_mvs``
(``PyAVBackend.decode_motion``); each row is one block: its size ``w × h``, its centre in
this frame ``(dst_x, dst_y)`` and its displacement ``(motion_x, motion_y) / motion_scale``
pixels from the reference frame. Intra frames carry none (zero motion).
"""

from __future__ import annotations

import numpy as np


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
