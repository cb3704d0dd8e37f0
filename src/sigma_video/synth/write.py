"""Writing frames to files: H.264 ``.mp4`` encoding that gives the same bytes on every run,
and a video's frames and palette masks in the DAVIS-2017 folder layout."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: int, crf: int = 20) -> None:
    """Encode ``uint8 (T, H, W, 3)`` frames as H.264 (yuv420p) with PyAV, byte-for-byte
    reproducibly."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        # x264 output varies from run to run unless it runs on one thread without the
        # look-ahead / macroblock-tree rate control (measured: 4 distinct encodes of 10)
        stream.codec_context.thread_count = 1
        stream.options = {
            "crf": str(crf),
            "preset": "veryfast",
            "x264-params": "threads=1:lookahead-threads=1:rc-lookahead=0:mbtree=0",
        }
        stream.codec_context.time_base = Fraction(1, fps)
        for t, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts = t  # explicit timestamps (frame rate time base): reproducible output
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


DAVIS_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12)


def write_davis(root: Path, name: str, rgb: np.ndarray, ids: np.ndarray) -> None:
    """One video's frames (JPEG) and object ids (palette PNG masks) as sequence ``name``
    under ``root``, in the DAVIS-2017 layout."""
    from PIL import Image

    images = root / "JPEGImages" / "480p" / name
    masks = root / "Annotations" / "480p" / name
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for t in range(len(rgb)):
        Image.fromarray(rgb[t]).save(images / f"{t:05d}.jpg", quality=95)
        mask = Image.fromarray(ids[t], mode="P")
        mask.putpalette(DAVIS_PALETTE)
        mask.save(masks / f"{t:05d}.png")
