"""Generated files shaped like the data users train on, for loader benchmarks.

``LIKE`` describes each kind as users hold it: Kinetics-400 after the usual preprocessing
(H.264, short side 320, 30 fps, 10 s, FFmpeg's default GOP of 250) and the same with a key
frame every 16 frames (``k400-g16``, what re-encoding buys), Kinetics-400 raw (H.264 720p),
and Something-Something v2 as distributed (VP9 WebM, height 240, 12 fps,
2–6 s). The content is generated (no downloads): a textured, slowly panning background
with moving textured objects and a little sensor noise, so the encoders spend realistic
bits on it. Files are written once per folder and reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LikeSpec:
    """One kind of file: codec, container, frame size, rate, length range (seconds), and
    the clip a training sample takes from it (frames × stride, as the recipe)."""

    codec: str
    suffix: str
    width: int
    height: int
    fps: int
    seconds: tuple[float, float]
    stride: int
    options: tuple[tuple[str, str], ...] = ()


LIKE = {
    "k400": LikeSpec("libx264", ".mp4", 568, 320, 30, (10.0, 10.0), 4, (("crf", "23"),)),
    # the same, re-encoded with a key frame every 16 frames (a one-time preprocessing)
    "k400-g16": LikeSpec(
        "libx264", ".mp4", 568, 320, 30, (10.0, 10.0), 4, (("crf", "23"), ("g", "16"))
    ),
    "k400-raw": LikeSpec("libx264", ".mp4", 1280, 720, 30, (10.0, 10.0), 4, (("crf", "23"),)),
    "ssv2": LikeSpec(
        "libvpx-vp9",
        ".webm",
        427,
        240,
        12,
        (2.0, 6.0),
        2,
        (("crf", "32"), ("b", "0"), ("deadline", "realtime"), ("cpu-used", "8")),
    ),
}


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random colour field with some fine detail, ``uint8 (H, W, 3)``."""
    coarse = rng.random((height // 16 + 2, width // 16 + 2, 3))
    field = np.kron(coarse, np.ones((16, 16, 1)))[:height, :width]
    fine = rng.random((height, width, 1)) * 0.25
    return (255 * np.clip(0.75 * field + fine, 0, 1)).astype(np.uint8)


def render_like(spec: LikeSpec, frames: int, seed: int) -> np.ndarray:
    """``uint8 (T, H, W, 3)``: a panning background, three moving objects, sensor noise."""
    rng = np.random.default_rng(seed)
    h, w = spec.height, spec.width
    background = _texture(rng, h, 2 * w)
    objects = []
    for _ in range(3):
        side = int(rng.integers(h // 6, h // 3))
        objects.append(
            (
                _texture(rng, side, side),
                rng.uniform(0, w - side),
                rng.uniform(0, h - side),
                rng.uniform(-3, 3) * 30 / spec.fps,
                rng.uniform(-2, 2) * 30 / spec.fps,
            )
        )
    out = np.empty((frames, h, w, 3), np.uint8)
    for t in range(frames):
        shift = int(t * 30 / spec.fps) % w
        image = background[:, shift : shift + w].copy()
        for patch, x, y, vx, vy in objects:
            side = patch.shape[0]
            px = int(np.clip(x + vx * t, 0, w - side))
            py = int(np.clip(y + vy * t, 0, h - side))
            image[py : py + side, px : px + side] = patch
        noise = rng.integers(-6, 7, image.shape, dtype=np.int16)
        out[t] = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return out


def write_like(
    kind: str, folder: str | Path, count: int = 6, seed: int = 0, seconds: float | None = None
) -> list[Path]:
    """``count`` files of ``kind`` in ``folder`` (written once, then reused); ``seconds``
    shortens them (tests)."""
    import dataclasses

    import av

    if kind not in LIKE:
        raise ValueError(f"unknown file kind {kind!r}; choose from {sorted(LIKE)}")
    spec = LIKE[kind]
    if seconds is not None:
        spec = dataclasses.replace(spec, seconds=(seconds, seconds))
    folder = Path(folder) / kind
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = np.random.default_rng(seed)
    for i in range(count):
        seconds = rng.uniform(*spec.seconds)
        path = folder / f"{kind}_{i:03d}{spec.suffix}"
        paths.append(path)
        if path.exists():
            continue
        frames = render_like(spec, round(seconds * spec.fps), seed * 1000 + i)
        tmp = path.with_name(f".{path.name}.tmp{spec.suffix}")
        with av.open(str(tmp), "w") as container:
            stream = container.add_stream(spec.codec, rate=spec.fps)
            stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
            stream.options = dict(spec.options)
            stream.codec_context.time_base = Fraction(1, spec.fps)
            for t, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = t
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        tmp.rename(path)
    return paths
