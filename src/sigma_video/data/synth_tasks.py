"""Generated videos for the SEVERE-style task-shift heads: multi-label and repetition counting.

Both use the embedded dataset's shapes and textures (``synth``), so an encoder pretrained on
it has seen their look, and both are pure functions of ``(seed, task, split, index)``:

- ``multilabel``: one to ``max_objects`` shapes of *different* appearance classes, each in
  its own quadrant of the frame, drifting slowly; the labels are the set of classes present
  (Charades-like multi-label classification, scored by mean average precision).
- ``count``: one shape that swings back and forth ``N`` times over the video (``N`` in
  ``1..max_count``), along a random direction, from a random phase, always with the same
  amplitude (so the count alone sets how fast it moves); the label is ``N``
  (UCFRep-like repetition counting). A clip of 16 frames 2 apart sees the whole 32-frame
  video, 4 frames per cycle at ``max_count`` 4 (the embedded SEVERE suite's setting; 8
  frames 4 apart would see 2 per cycle: a swing could alias to standing still).

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

from sigma_video.data.synth import (
    APPEARANCE_CLASSES,
    ShapeSpec,
    _colour,
    background_field,
    building,
    default_cache_dir,
    default_workers,
    finished,
    map_jobs,
    render_shapes,
    write_meta,
    write_mp4,
)

TASK_KINDS = ("multilabel", "count")
TASK_FORMAT_VERSION = 2  # 2: one swing amplitude (the count alone sets the speed)
QUADRANTS = ((0, 0), (1, 0), (0, 1), (1, 1))


@dataclass(frozen=True)
class TaskSynthConfig:
    """Sizes and ranges of the generated task videos (defaults: the embedded ones).

    ``object_scale``: radius as a share of the frame for the multi-label shapes (they share
    the frame; the counting shape uses ``count_scale``); ``swing``: the range of a
    repetition's amplitude as a share of the frame (one value by default).
    """

    num_train: int = 480
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

    def __post_init__(self) -> None:
        if self.num_train < 1 or self.num_val < 1:
            raise ValueError("num_train and num_val must be >= 1")
        if self.frames < 2 or self.size < 32 or self.size % 2:
            raise ValueError("need frames >= 2 and an even size >= 32")
        if not 1 <= self.max_objects <= len(QUADRANTS):
            raise ValueError(f"max_objects must be in 1..{len(QUADRANTS)}")
        if self.max_count < 1:
            raise ValueError("max_count must be >= 1")


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


def counting_shape(config: TaskSynthConfig, rng: random.Random) -> tuple[ShapeSpec, int]:
    """One shape swinging back and forth ``N`` times along a random direction: ``(shape, N)``."""
    s, t = config.size, config.frames
    repeats = rng.randint(1, config.max_count)
    radius = s * rng.uniform(*config.count_scale)
    amplitude = s * rng.uniform(*config.swing)
    direction = rng.uniform(0, math.pi)
    margin = radius * 1.05 + amplitude
    shape = ShapeSpec(
        shape=rng.randrange(len(APPEARANCE_CLASSES)),
        radius=radius,
        colours=_grey_textures(rng),
        stripes=0.0,
        start=(rng.uniform(margin, s - margin), rng.uniform(margin, s - margin)),
        velocity=(0.0, 0.0),
        angle=rng.uniform(0, 2 * math.pi),
        pattern="class",
        swing=(
            amplitude * math.cos(direction),
            amplitude * math.sin(direction),
            repeats / t,
            rng.uniform(0, 2 * math.pi),
        ),
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
    colours = (_colour(rng), _colour(rng))
    background = background_field(
        colours, rng.randrange(2**31), config.background_contrast, config.size
    )
    rgb, ids = render_shapes(background, [(x, i + 1) for i, x in enumerate(shapes)], config.frames)
    return rgb, ids, labels


def write_task_video(
    work: Path, config: TaskSynthConfig, task: str, split: str, index: int
) -> tuple[str, tuple[int, ...]]:
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
    return finished(root, config, TASK_FORMAT_VERSION)


def default_task_dataset(config: TaskSynthConfig | None = None) -> Path:
    """The embedded task videos in the cache folder, generated on first use."""
    config = config or TaskSynthConfig()
    return write_task_dataset(
        default_cache_dir() / f"synth-tasks-v{TASK_FORMAT_VERSION}-seed{config.seed}", config
    )
