"""RandAugment for clips, as VideoMAE fine-tunes (``rand-m7-n4-mstd0.5-inc1``): ``ops``
operations drawn with replacement from the 15 "increasing" ones, each applied with
probability ``prob`` at a magnitude drawn from N(``magnitude``, ``std``) clipped to
[0, 10]; one draw per clip, the same for all its frames (so motion is untouched).

The operation levels follow timm's ``auto_augment`` conventions (rotate ±30°·m/10, shear
±0.3·m/10, translate ±0.45·m/10 of the side, posterize 4 − 4·m/10 bits, solarize at
256 − 256·m/10, solarize-add +110·m/10 below 128, colour/contrast/brightness/sharpness
1 ± 0.9·m/10; geometric fills are the ImageNet mean). Pixel work is Pillow's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

OPS = (
    "auto_contrast",
    "equalize",
    "invert",
    "rotate",
    "posterize",
    "solarize",
    "solarize_add",
    "color",
    "contrast",
    "brightness",
    "sharpness",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)
FILL = (124, 116, 104)  # ImageNet mean × 255
MAX_LEVEL = 10.0


@dataclass(frozen=True)
class RandAugment:
    """``ops`` per clip (0 turns RandAugment off), ``magnitude`` of 10, its ``std``,
    and the chance ``prob`` that each drawn operation is applied."""

    ops: int = 4
    magnitude: float = 7.0
    std: float = 0.5
    prob: float = 0.5

    def __post_init__(self) -> None:
        if self.ops < 0 or not 0 <= self.magnitude <= MAX_LEVEL or self.std < 0:
            raise ValueError(
                f"RandAugment needs ops >= 0, magnitude in [0, 10], std >= 0; got {self}"
            )
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"RandAugment prob must be in [0, 1], got {self.prob}")

    @classmethod
    def parse(cls, text: str) -> RandAugment:
        """timm-style ``"m7-n4-mstd0.5"`` (``rand-`` prefix and ``-inc1`` allowed; ``none``
        or ``""`` is off)."""
        if text.strip().lower() in ("", "none", "off"):
            return cls(ops=0)
        values = {"ops": 4, "magnitude": 7.0, "std": 0.5}
        for part in text.strip().lower().removeprefix("rand-").split("-"):
            try:
                if part.startswith("mstd"):
                    values["std"] = float(part[4:])
                elif part.startswith("m"):
                    values["magnitude"] = float(part[1:])
                elif part.startswith("n"):
                    values["ops"] = int(part[1:])
                elif part != "inc1":
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"cannot read RandAugment {text!r} (expected e.g. 'm7-n4-mstd0.5')"
                ) from None
        return cls(values["ops"], values["magnitude"], values["std"])


Draw = tuple[str, float, bool]  # (operation, magnitude / 10, negate)


def sample_ops(config: RandAugment, rng: random.Random) -> list[Draw]:
    """The operations applied to one clip: ``(name, level in [0, 1], negate)``."""
    draws = []
    for _ in range(config.ops):
        name = OPS[rng.randrange(len(OPS))]
        if rng.random() >= config.prob:
            continue
        magnitude = rng.gauss(config.magnitude, config.std) if config.std else config.magnitude
        level = min(max(magnitude, 0.0), MAX_LEVEL) / MAX_LEVEL
        draws.append((name, level, rng.random() < 0.5))
    return draws


def apply_op(image: Image.Image, name: str, level: float, negate: bool) -> Image.Image:
    """One operation on an RGB image at ``level`` in [0, 1] (signed ops flip with ``negate``)."""
    sign = -1.0 if negate else 1.0
    w, h = image.size
    if name == "auto_contrast":
        return ImageOps.autocontrast(image)
    if name == "equalize":
        return ImageOps.equalize(image)
    if name == "invert":
        return ImageOps.invert(image)
    if name == "rotate":
        return image.rotate(sign * 30.0 * level, resample=Image.BILINEAR, fillcolor=FILL)
    if name == "posterize":
        return ImageOps.posterize(image, 4 - int(4 * level))  # 0 bits at level 1: black
    if name == "solarize":
        return ImageOps.solarize(image, 256 - int(256 * level))
    if name == "solarize_add":
        pixels = np.asarray(image).astype(np.int16)
        added = np.where(pixels < 128, np.minimum(pixels + int(110 * level), 255), pixels)
        return Image.fromarray(added.astype(np.uint8))
    if name in ("color", "contrast", "brightness", "sharpness"):
        enhancer = {
            "color": ImageEnhance.Color,
            "contrast": ImageEnhance.Contrast,
            "brightness": ImageEnhance.Brightness,
            "sharpness": ImageEnhance.Sharpness,
        }[name]
        return enhancer(image).enhance(1.0 + sign * 0.9 * level)
    if name in ("shear_x", "shear_y", "translate_x", "translate_y"):
        amount = sign * level * (0.3 if name.startswith("shear") else 0.45)
        matrix = {
            "shear_x": (1, amount, 0, 0, 1, 0),
            "shear_y": (1, 0, 0, amount, 1, 0),
            "translate_x": (1, 0, amount * w, 0, 1, 0),
            "translate_y": (1, 0, 0, 0, 1, amount * h),
        }[name]
        return image.transform(image.size, Image.AFFINE, matrix, Image.BILINEAR, fillcolor=FILL)
    raise ValueError(f"unknown RandAugment operation {name!r}")


def randaugment_clip(frames: np.ndarray, draws: list[Draw]) -> np.ndarray:
    """Apply the same ``draws`` to every frame of ``uint8 (T, H, W, 3)``; same shape out."""
    if not draws:
        return frames
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        image = Image.fromarray(frame)
        for name, level, negate in draws:
            image = apply_op(image, name, level, negate)
        out[t] = np.asarray(image)
    return out
