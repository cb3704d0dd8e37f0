"""Drawing the generated videos as arrays: each shape's outline and texture, the smooth
background, and the frames with their per-pixel object ids (pure functions of a spec)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sigma_video.synth.spec import APPEARANCE_CLASSES, DISTRACTOR, ShapeSpec, VideoSpec


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership in a unit-size shape, in the shape's own coordinates."""
    if shape == DISTRACTOR:
        return (u / 1.3) ** 2 + (v / 0.7) ** 2 <= 1.0
    name = APPEARANCE_CLASSES[shape]
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if name == "circle":
        return u**2 + v**2 <= 1.0
    if name == "triangle":
        return (v <= 0.5) & (v >= -1.0 + 1.732 * np.abs(u) * 0.866)
    if name == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if name == "cross":
        return ((np.abs(u) <= 0.33) & (np.abs(v) <= 1.0)) | (
            (np.abs(v) <= 0.33) & (np.abs(u) <= 1.0)
        )
    r2 = u**2 + v**2  # ring
    return (r2 <= 1.0) & (r2 >= 0.3)


def class_texture(shape: int, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    """The appearance class's own surface texture (True: the first colour) at points
    ``(x, y)`` in the shape's own axes, in pixels of a ``size``-pixel frame: fine stripes
    (period 6 at ``size`` 96), checks (10), wide stripes (14), dots (8), a diagonal weave,
    bricks. Each shows in an 8×8 tube of a 64² clip."""
    x, y = x * (96 / size), y * (96 / size)
    name = APPEARANCE_CLASSES[shape]
    if name == "square":
        return np.sin(2 * math.pi * x / 6) > 0
    if name == "circle":
        return (np.sin(2 * math.pi * x / 10) > 0) ^ (np.sin(2 * math.pi * y / 10) > 0)
    if name == "triangle":
        return np.sin(2 * math.pi * x / 14) > 0
    if name == "diamond":
        return (np.mod(x, 8) - 4) ** 2 + (np.mod(y, 8) - 4) ** 2 <= 5
    if name == "cross":
        return np.sin(2 * math.pi * (x + y) / 8.5) * np.sin(2 * math.pi * (x - y) / 20) > 0
    return (np.sin(2 * math.pi * x / 6) > 0) & (np.sin(2 * math.pi * y / 12) > 0)  # ring


def _draw(frame: np.ndarray, ids: np.ndarray, spec: ShapeSpec, t: int, label: int) -> None:
    s = frame.shape[0]
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    cx, cy = spec.centre(t)
    theta = spec.angle
    dx, dy = (x - cx) / spec.radius, (y - cy) / spec.radius
    u = dx * math.cos(theta) + dy * math.sin(theta)
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    inside = _inside(spec.shape, u, v)
    if spec.pattern == "class":
        first = class_texture(spec.shape, u * spec.radius, v * spec.radius, s)
    elif spec.pattern == "plain":
        first = np.ones_like(inside)
    else:
        first = np.sin(math.pi * spec.stripes * u) > 0
    colour = np.where(first[..., None], spec.colours[0], spec.colours[1])
    frame[inside] = colour[inside]
    ids[inside] = label


def background_field(
    colours: tuple[tuple[float, float, float], tuple[float, float, float]],
    seed: int,
    contrast: float,
    size: int,
) -> np.ndarray:
    """``float32 (S, S, 3)`` smooth blend of two colours (a bicubic 4×4 random field whose
    deviation from grey 0.5 is scaled by ``contrast``)."""
    g = torch.Generator().manual_seed(seed)
    field = F.interpolate(torch.rand(1, 1, 4, 4, generator=g), size=(size, size), mode="bicubic")
    field = 0.5 + contrast * (field.clamp(0, 1) - 0.5)
    field = field[0, 0, :, :, None].numpy()
    c0, c1 = np.array(colours[0]), np.array(colours[1])
    return c0 * (1 - field) + c1 * field


def render_shapes(
    background: np.ndarray, shapes: list[tuple[ShapeSpec, int]], frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(shape, id)`` pairs in order (later ones on top) over ``background``
    ``(S, S, 3)``: ``uint8 (T, S, S, 3)`` RGB frames and ``uint8 (T, S, S)`` ids (0
    background)."""
    size = background.shape[0]
    rgb = np.empty((frames, size, size, 3), np.float32)
    ids = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):
        rgb[t] = background
        for shape, label in shapes:
            if shape.visible(t):
                _draw(rgb[t], ids[t], shape, t, label)
    return (rgb * 255).round().clip(0, 255).astype(np.uint8), ids


def render(spec: VideoSpec, frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``uint8 (T, S, S, 3)`` RGB frames and ``uint8 (T, S, S)`` object ids (0 background,
    1 the moving shape, 2 the distractor)."""
    background = background_field(
        spec.background, spec.background_seed, spec.background_contrast, size
    )
    shapes = [(spec.distractor, 2)] if spec.distractor is not None else []
    return render_shapes(background, [*shapes, (spec.main, 1)], frames)
