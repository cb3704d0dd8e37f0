"""What one generated video contains: the class names, the format version, the dataset's
settings (``SynthConfig``), the shapes and videos (``ShapeSpec``, ``VideoSpec``) and
``video_spec``, which draws a video's content from ``(seed, split, index)`` alone."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

APPEARANCE_CLASSES = ("square", "circle", "triangle", "diamond", "cross", "ring")
MOTION_CLASSES = ("right", "down-right", "down-left", "left", "up-left", "up-right")  # 60° apart
FORMAT_VERSION = 5  # 2: byte-reproducible H.264; 3: class patterns; 4: fine class textures;
# 5: six directions of travel (no rotation classes)
DISTRACTOR = -1  # the distractor's shape: a plain ellipse, no class's outline

PATTERN_MODES = ("class", "stripes")
OBJECT_COLOURS = ("mono", "random")


@dataclass(frozen=True)
class SynthConfig:
    """Settings of the generated dataset (the defaults are the embedded dataset).

    ``pattern``: ``"class"`` gives each appearance class its own surface texture besides its
    outline (``class_texture``: fine stripes, checks, wide stripes, dots, a diagonal weave,
    bricks; periods of 6–14 pixels at ``size`` 96, scaled with ``size``), and the distractor
    none; ``"stripes"`` is the format-2 look (random stripes on every shape: only the
    outline tells the classes apart). ``object_colours``: ``"mono"`` draws the texture in a
    dark and a light grey (the class is in the texture, not the hue), ``"random"`` in two
    random colours. ``background_contrast`` scales the smooth random colour field behind the
    objects (0: a flat colour). ``speed`` is the share of the free space the travelling
    object crosses over the video, in its class's direction (1.3–2.5 pixels between frames 4
    apart at ``size`` 96: less than half the finest texture period).
    """

    num_train: int = 960
    num_val: int = 96
    frames: int = 32
    size: int = 96
    fps: int = 16
    seed: int = 0
    distractor_prob: float = 0.5
    crf: int = 20
    object_scale: tuple[float, float] = (0.2, 0.27)  # radius as a share of the frame size
    pattern: str = "class"
    object_colours: str = "mono"
    background_contrast: float = 0.5
    speed: tuple[float, float] = (0.25, 0.35)

    def __post_init__(self) -> None:
        if self.num_train < 1 or self.num_val < 1:
            raise ValueError("num_train and num_val must be >= 1")
        if self.frames < 2 or self.size < 32 or self.size % 2:
            raise ValueError("need frames >= 2 and an even size >= 32")
        if self.pattern not in PATTERN_MODES:
            raise ValueError(f"pattern must be one of {PATTERN_MODES}, got {self.pattern!r}")
        if self.object_colours not in OBJECT_COLOURS:
            raise ValueError(
                f"object_colours must be one of {OBJECT_COLOURS}, got {self.object_colours!r}"
            )


@dataclass(frozen=True)
class ShapeSpec:
    shape: int  # index into APPEARANCE_CLASSES, or DISTRACTOR
    radius: float
    colours: tuple[tuple[float, float, float], tuple[float, float, float]]
    stripes: float  # stripe frequency across the shape ("stripes" pattern)
    start: tuple[float, float]  # centre (x, y) at frame 0, pixels
    velocity: tuple[float, float]  # pixels per frame
    angle: float  # radians at frame 0
    pattern: str = "stripes"  # "class", "stripes" or "plain"
    # back-and-forth travel added to the linear one: (amplitude x, amplitude y) in pixels,
    # full cycles per frame, phase at frame 0 (radians); the repetitions of ``tasks``
    swing: tuple[float, float, float, float] | None = None
    # frame ranges ``[start, end)`` in which the shape is not drawn (the blinks of ``tasks``)
    hidden: tuple[tuple[int, int], ...] = ()

    def visible(self, t: int) -> bool:
        """Whether the shape is drawn at frame ``t``."""
        return not any(start <= t < end for start, end in self.hidden)

    def centre(self, t: int) -> tuple[float, float]:
        """The centre ``(x, y)`` in pixels at frame ``t``."""
        x = self.start[0] + self.velocity[0] * t
        y = self.start[1] + self.velocity[1] * t
        if self.swing is not None:
            ax, ay, cycles, phase = self.swing
            wave = math.sin(2 * math.pi * cycles * t + phase)
            x, y = x + ax * wave, y + ay * wave
        return x, y


@dataclass(frozen=True)
class VideoSpec:
    motion: int  # index into MOTION_CLASSES
    main: ShapeSpec
    distractor: ShapeSpec | None
    background: tuple[tuple[float, float, float], tuple[float, float, float]]
    background_seed: int
    background_contrast: float = 0.5


def random_colour(rng: random.Random) -> tuple[float, float, float]:
    """A colour of three uniform random channels in [0, 1)."""
    return (rng.random(), rng.random(), rng.random())


def _contrasting(rng: random.Random) -> tuple[tuple[float, float, float], ...]:
    """Two colours whose brightness differs by at least 0.4, so a pattern stays visible."""
    while True:
        a, b = random_colour(rng), random_colour(rng)
        if abs(sum(a) - sum(b)) / 3 >= 0.4:
            return a, b


def _object_colours(config: SynthConfig, rng: random.Random) -> tuple:
    if config.pattern != "class":
        return random_colour(rng), random_colour(rng)
    if config.object_colours == "mono":  # dark and light grey: the pattern, not the hue
        dark, light = rng.uniform(0.0, 0.2), rng.uniform(0.8, 1.0)
        pair = ((dark,) * 3, (light,) * 3)
        return pair if rng.random() < 0.5 else pair[::-1]
    return _contrasting(rng)


def video_spec(config: SynthConfig, split: str, index: int) -> VideoSpec:
    """The content of one video, a pure function of the seed, split and index."""
    rng = random.Random(f"sigma-video-synth/{config.seed}/{split}/{index}")
    s, t = config.size, config.frames
    motion = rng.randrange(len(MOTION_CLASSES))
    radius = s * rng.uniform(*config.object_scale)
    margin = radius * 1.1
    travel = rng.uniform(*config.speed) * (s - 2 * margin)
    angle = 2 * math.pi * motion / len(MOTION_CLASSES)  # 0 right, 60° down-right, ...
    dx, dy = travel * math.cos(angle), travel * math.sin(angle)
    start = (  # anywhere the whole path stays inside the frame
        rng.uniform(margin - min(dx, 0.0), s - margin - max(dx, 0.0)),
        rng.uniform(margin - min(dy, 0.0), s - margin - max(dy, 0.0)),
    )
    velocity = (dx / (t - 1), dy / (t - 1))
    class_pattern = config.pattern == "class"
    main = ShapeSpec(
        shape=rng.randrange(len(APPEARANCE_CLASSES)),
        radius=radius,
        colours=_object_colours(config, rng),
        stripes=rng.uniform(2.0, 4.0),
        start=start,
        velocity=velocity,
        angle=rng.uniform(0, 2 * math.pi),
        pattern=config.pattern,
    )
    distractor = None
    if rng.random() < config.distractor_prob:
        r = s * rng.uniform(0.08, 0.12)
        colour = random_colour(rng)
        distractor = ShapeSpec(
            shape=DISTRACTOR
            if class_pattern
            else rng.choice([k for k in range(len(APPEARANCE_CLASSES)) if k != main.shape]),
            radius=r,
            colours=(colour, random_colour(rng)) if not class_pattern else (colour, colour),
            stripes=rng.uniform(1.0, 2.0),
            start=(rng.uniform(r, s - r), rng.uniform(r, s - r)),
            velocity=(0.0, 0.0),
            angle=rng.uniform(0, 2 * math.pi),
            pattern="plain" if class_pattern else "stripes",
        )
    background = (random_colour(rng), random_colour(rng))
    return VideoSpec(
        motion, main, distractor, background, rng.randrange(2**31), config.background_contrast
    )
