"""Generated videos for the SEVERE-style task-shift heads: multi-label and repetition counting.

Both use the embedded dataset's shapes and textures (``spec``, ``render``), so an encoder
pretrained on it has seen their look, and both are pure functions of
``(seed, task, split, index)``:

- ``multilabel``: one to ``max_objects`` shapes of *different* appearance classes, each in
  its own quadrant of the frame, drifting slowly; the labels are the set of classes present
  (Charades-like multi-label classification, scored by mean average precision).
- ``count``: one still shape that blinks out ``N`` times (``N`` in ``1..max_count``): it is
  not drawn for ``blink_frames`` frames, once in each ``N``-th of the video at a random
  offset, with at least ``blink_gap`` frames of it between two blinks; the label is ``N``
  (UCFRep-like repetition counting). ``repetition="swing"`` gives format 2's videos instead:
  the shape swings back and forth ``N`` times with one amplitude (the count alone sets the
  speed). At the defaults (32 frames, blinks of 4, ``max_count`` 4: at least 2 frames between
  two blinks) a clip of 8 frames 4 apart (the demo's, and the embedded suite's counting clip)
  loses exactly one of its frames per blink, a clip of 16 frames 2 apart two.

Why blinks (BENCHMARKS.md, "SEVERE on the embedded videos"):
supervised from scratch, the demo ViT stays at chance on the swing counts (and on hops and
bounces) for 600 steps and learns the blink counts to 84 % in 1500; a repetition that changes
what a time slot looks like is what a model of this size can count, and the demo's SIGMA
checkpoint counts them better than random init on every seed.

``write_task_dataset(root)`` writes H.264 files and lists (paths relative to ``root``):

    root/videos/{multilabel,count}/{train,val}/NNNNN.mp4
    root/multilabel_{train,val}.csv    ``path 0,3,5`` (comma-separated class indices)
    root/count_{train,val}.csv         ``path N``
    root/classes.json                  class names, the generator's settings
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigma_video.synth.cache import building, default_cache_dir, finished, write_meta
from sigma_video.synth.pool import default_workers, map_jobs
from sigma_video.synth.render import background_field, render_shapes
from sigma_video.synth.spec import APPEARANCE_CLASSES, ShapeSpec, random_colour
from sigma_video.synth.write import write_mp4

TASK_KINDS = ("multilabel", "count")
TASK_FORMAT_VERSION = 3  # 3: counting by blinks, 960 training videos; 2: one swing amplitude
REPETITIONS = ("blink", "swing")
QUADRANTS = ((0, 0), (1, 0), (0, 1), (1, 1))


@dataclass(frozen=True)
class TaskSynthConfig:
    """Sizes and ranges of the generated task videos (defaults: the embedded ones).

    ``object_scale``: radius as a share of the frame for the multi-label shapes (they share
    the frame; the counting shape uses ``count_scale``); ``swing``: the range of a
    repetition's amplitude as a share of the frame (one value by default, ``swing`` videos);
    ``repetition``: what the counting shape repeats (``blink`` or ``swing``);
    ``blink_frames``: how long one blink lasts; ``blink_gap``: the fewest frames between two.
    """

    num_train: int = 960
    num_val: int = 96
    frames: int = 32
    size: int = 96
    fps: int = 16
    seed: int = 0
    crf: int = 20
    max_objects: int = 3
    max_count: int = 4
    object_scale: tuple[float, float] = (0.13, 0.16)
    count_scale: tuple[float, float] = (0.18, 0.22)
    swing: tuple[float, float] = (0.18, 0.18)
    background_contrast: float = 0.5
    repetition: str = "blink"
    blink_frames: int = 4
    blink_gap: int = 2

    def __post_init__(self) -> None:
        if self.num_train < 1 or self.num_val < 1:
            raise ValueError("num_train and num_val must be >= 1")
        if self.frames < 2 or self.size < 32 or self.size % 2:
            raise ValueError("need frames >= 2 and an even size >= 32")
        if not 1 <= self.max_objects <= len(QUADRANTS):
            raise ValueError(f"max_objects must be in 1..{len(QUADRANTS)}")
        if self.max_count < 1:
            raise ValueError("max_count must be >= 1")
        if self.repetition not in REPETITIONS:
            raise ValueError(f"repetition must be one of {REPETITIONS}, got {self.repetition!r}")
        if self.repetition == "blink" and (
            self.blink_frames < 1
            or self.blink_gap < 1
            or self.frames // self.max_count < self.blink_frames + self.blink_gap
        ):
            raise ValueError(
                f"{self.max_count} blinks of {self.blink_frames} frames, {self.blink_gap} apart, "
                f"do not fit in {self.frames} frames (need frames // max_count >= "
                "blink_frames + blink_gap, both >= 1)"
            )


def _grey_textures(rng: random.Random) -> tuple[tuple[float, float, float], ...]:
    dark, light = rng.uniform(0.05, 0.3), rng.uniform(0.7, 0.95)
    return ((dark,) * 3, (light,) * 3)


def multilabel_shapes(config: TaskSynthConfig, rng: random.Random) -> list[ShapeSpec]:
    """One to ``max_objects`` shapes of distinct classes, each drifting inside its own
    quadrant (they never overlap), textured as their class."""
    s, t = config.size, config.frames
    count = rng.randint(1, config.max_objects)
    classes = rng.sample(range(len(APPEARANCE_CLASSES)), count)
    quadrants = rng.sample(QUADRANTS, count)
    shapes = []
    for shape, (qx, qy) in zip(classes, quadrants, strict=True):
        radius = s * rng.uniform(*config.object_scale)
        low, high = radius * 1.05, s / 2 - radius * 1.05  # centre range inside the quadrant
        start = (rng.uniform(low, high), rng.uniform(low, high))
        end = (rng.uniform(low, high), rng.uniform(low, high))
        velocity = ((end[0] - start[0]) / (t - 1), (end[1] - start[1]) / (t - 1))
        offset = (qx * s / 2, qy * s / 2)
        shapes.append(
            ShapeSpec(
                shape=shape,
                radius=radius,
                colours=_grey_textures(rng),
                stripes=0.0,
                start=(start[0] + offset[0], start[1] + offset[1]),
                velocity=velocity,
                angle=rng.uniform(0, 2 * math.pi),
                pattern="class",
            )
        )
    return shapes


def blink_ranges(
    frames: int, repeats: int, length: int, gap: int, rng: random.Random
) -> tuple[tuple[int, int], ...]:
    """``repeats`` frame ranges ``[start, start + length)``, one inside each ``repeats``-th of
    ``frames`` at a random offset: every range starts at frame 1 or later, ends by the last
    frame, and leaves at least ``gap`` frames before the next (needs
    ``frames // repeats >= length + gap``)."""
    share = frames / repeats
    slack = frames // repeats - length - gap
    ranges = []
    for k in range(repeats):
        start = math.floor(k * share) + 1 + rng.randint(0, slack)
        ranges.append((start, start + length))
    return tuple(ranges)


def counting_shape(config: TaskSynthConfig, rng: random.Random) -> tuple[ShapeSpec, int]:
    """The counting video's shape and its count ``N``: still and blinking out ``N`` times, or
    swinging ``N`` times along a random direction (``config.repetition``)."""
    s, t = config.size, config.frames
    repeats = rng.randint(1, config.max_count)
    radius = s * rng.uniform(*config.count_scale)
    if config.repetition == "blink":
        margin = radius * 1.05
        hidden = blink_ranges(t, repeats, config.blink_frames, config.blink_gap, rng)
        swing = None
    else:
        amplitude = s * rng.uniform(*config.swing)
        direction = rng.uniform(0, math.pi)
        margin = radius * 1.05 + amplitude
        swing = (
            amplitude * math.cos(direction),
            amplitude * math.sin(direction),
            repeats / t,
            rng.uniform(0, 2 * math.pi),
        )
        hidden = ()
    shape = ShapeSpec(
        shape=rng.randrange(len(APPEARANCE_CLASSES)),
        radius=radius,
        colours=_grey_textures(rng),
        stripes=0.0,
        start=(rng.uniform(margin, s - margin), rng.uniform(margin, s - margin)),
        velocity=(0.0, 0.0),
        angle=rng.uniform(0, 2 * math.pi),
        pattern="class",
        swing=swing,
        hidden=hidden,
    )
    return shape, repeats


def render_task_video(
    config: TaskSynthConfig, task: str, split: str, index: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """``(uint8 (T, S, S, 3) frames, uint8 (T, S, S) ids, labels)``: the classes present
    (``multilabel``, sorted) or ``(N,)`` (``count``)."""
    if task not in TASK_KINDS:
        raise ValueError(f"task must be one of {TASK_KINDS}, got {task!r}")
    rng = random.Random(f"sigma-video-tasks/{config.seed}/{task}/{split}/{index}")
    if task == "multilabel":
        shapes = multilabel_shapes(config, rng)
        labels = tuple(sorted(shape.shape for shape in shapes))
    else:
        shape, repeats = counting_shape(config, rng)
        shapes, labels = [shape], (repeats,)
    colours = (random_colour(rng), random_colour(rng))
    background = background_field(
        colours, rng.randrange(2**31), config.background_contrast, config.size
    )
    rgb, ids = render_shapes(background, [(x, i + 1) for i, x in enumerate(shapes)], config.frames)
    return rgb, ids, labels


def write_task_video(
    work: Path, config: TaskSynthConfig, task: str, split: str, index: int
) -> tuple[str, tuple[int, ...]]:
    """Render and encode one task video under ``work``: ``(relative path, labels)``."""
    rgb, _, labels = render_task_video(config, task, split, index)
    relative = f"videos/{task}/{split}/{index:05d}.mp4"
    write_mp4(work / relative, rgb, config.fps, config.crf)
    return relative, labels


def write_task_dataset(
    root: str | os.PathLike, config: TaskSynthConfig | None = None, workers: int | None = None
) -> Path:
    """Generate both task datasets into ``root`` (atomically; kept when already complete
    with the same settings); the bytes do not depend on ``workers``."""
    config = config or TaskSynthConfig()
    root = Path(root)
    if is_complete(root, config):
        return root
    with building(root) as work:
        counts = {"train": config.num_train, "val": config.num_val}
        jobs = [
            (task, split, index)
            for task in TASK_KINDS
            for split, count in counts.items()
            for index in range(count)
        ]
        for task in TASK_KINDS:
            for split in counts:
                (work / "videos" / task / split).mkdir(parents=True)
        written = map_jobs(
            write_task_video, [(work, config, *job) for job in jobs], workers or default_workers()
        )
        lines: dict[str, str] = {}
        for (task, split, _), (path, labels) in zip(jobs, written, strict=True):
            line = f"{path} {','.join(map(str, labels))}\n"
            lines[f"{task}_{split}.csv"] = lines.get(f"{task}_{split}.csv", "") + line
        for name, text in lines.items():
            (work / name).write_text(text)
        write_meta(work, TASK_FORMAT_VERSION, config)
    return root


def is_complete(root: Path, config: TaskSynthConfig) -> bool:
    """True if ``root`` holds finished task datasets made with ``config``."""
    return finished(root, config, TASK_FORMAT_VERSION)


def default_task_dataset(config: TaskSynthConfig | None = None) -> Path:
    """The embedded task videos in the cache folder, generated on first use."""
    config = config or TaskSynthConfig()
    return write_task_dataset(
        default_cache_dir() / f"synth-tasks-v{TASK_FORMAT_VERSION}-seed{config.seed}", config
    )
