"""The embedded default dataset: procedurally generated videos of moving textured shapes.

Each video shows one shape (the *appearance* class, like K400's object/scene cue: six
outlines, each with its own grey surface texture that every tube of the object shows) doing
one motion (the *motion* class, like SSv2: six directions of travel, 60° apart) over a
smooth random-colour background, sometimes with a plain static ellipse as a distractor.
Everything is a pure function of ``(seed, split, index)``. The format was designed so that
the demo's tiny model can learn both label sets in CPU minutes (BENCHMARKS.md, "Learning
you can see: the demo recipe"): textures fine enough that one 8×8 tube of a 64² clip shows
its class, motion slow enough that those textures do not alias between the sampled frames
(stride 4), a distractor whose outline is no class's, and directions of travel only, since
the tiny ViT does not tell the sense of a rotation apart even supervised (BENCHMARKS.md,
"The supervised ceiling and its crops").
``SynthConfig(pattern="stripes", object_colours="random")`` gives the format-2 look (random
stripes and hues: only the outline tells the classes apart).

``write_dataset(root)`` writes real H.264 ``.mp4`` files and lists in the ``path label``
format (paths relative to ``root``):

    root/videos/{train,val}/NNNNN.mp4
    root/train.csv, val.csv                        motion labels
    root/train_appearance.csv, val_appearance.csv  appearance labels
    root/classes.json                              class names, the generator's settings
    root/davis/JPEGImages/480p/<seq>/00000.jpg     val videos, DAVIS-2017 layout, with
    root/davis/Annotations/480p/<seq>/00000.png    per-frame palette masks (1 = the moving
    root/davis/ImageSets/2017/val.txt              shape, 2 = the distractor)
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sigma_video.files import umask_mode

APPEARANCE_CLASSES = ("square", "circle", "triangle", "diamond", "cross", "ring")
MOTION_CLASSES = ("right", "down-right", "down-left", "left", "up-left", "up-right")  # 60° apart
FORMAT_VERSION = 5  # 2: byte-reproducible H.264; 3: class patterns; 4: fine class textures;
# 5: six directions of travel (no rotation classes)
DISTRACTOR = -1  # the distractor's shape: a plain ellipse, no class's outline


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


PATTERN_MODES = ("class", "stripes")
OBJECT_COLOURS = ("mono", "random")


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
    # full cycles per frame, phase at frame 0 (radians); the repetitions of ``synth_tasks``
    swing: tuple[float, float, float, float] | None = None
    # frame ranges ``[start, end)`` in which the shape is not drawn (the blinks of ``synth_tasks``)
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


def _colour(rng: random.Random) -> tuple[float, float, float]:
    return (rng.random(), rng.random(), rng.random())


def _contrasting(rng: random.Random) -> tuple[tuple[float, float, float], ...]:
    """Two colours whose brightness differs by at least 0.4, so a pattern stays visible."""
    while True:
        a, b = _colour(rng), _colour(rng)
        if abs(sum(a) - sum(b)) / 3 >= 0.4:
            return a, b


def _object_colours(config: SynthConfig, rng: random.Random) -> tuple:
    if config.pattern != "class":
        return _colour(rng), _colour(rng)
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
        colour = _colour(rng)
        distractor = ShapeSpec(
            shape=DISTRACTOR
            if class_pattern
            else rng.choice([k for k in range(len(APPEARANCE_CLASSES)) if k != main.shape]),
            radius=r,
            colours=(colour, _colour(rng)) if not class_pattern else (colour, colour),
            stripes=rng.uniform(1.0, 2.0),
            start=(rng.uniform(r, s - r), rng.uniform(r, s - r)),
            velocity=(0.0, 0.0),
            angle=rng.uniform(0, 2 * math.pi),
            pattern="plain" if class_pattern else "stripes",
        )
    background = (_colour(rng), _colour(rng))
    return VideoSpec(
        motion, main, distractor, background, rng.randrange(2**31), config.background_contrast
    )


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


def write_video(work: Path, config: SynthConfig, split: str, index: int) -> tuple[str, int, int]:
    """Render and encode one video under ``work`` (and its DAVIS frames for val):
    ``(relative path, motion label, appearance label)``."""
    spec = video_spec(config, split, index)
    rgb, ids = render(spec, config.frames, config.size)
    relative = f"videos/{split}/{index:05d}.mp4"
    write_mp4(work / relative, rgb, config.fps, config.crf)
    if split == "val":
        write_davis(work / "davis", f"{split}{index:05d}", rgb, ids)
    return relative, spec.motion, spec.main.shape


def _one_thread() -> None:
    torch.set_num_threads(1)


def map_jobs(function: Callable[..., Any], jobs: list[tuple], workers: int) -> list[Any]:
    """``[function(*job) for job in jobs]``, on a pool of ``workers`` processes (fork where
    available, one torch thread each) when there are enough jobs; same results, same order."""
    if workers <= 1 or len(jobs) < 2 * workers:
        return [function(*job) for job in jobs]
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with context.Pool(workers, initializer=_one_thread) as pool:
        chunk = max(1, len(jobs) // (8 * workers))
        return pool.starmap(function, jobs, chunk)


def usable_cores() -> int:
    """The CPU cores this process may use (its affinity on Linux)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """The CPU cores this process may use, at most 8."""
    return min(8, usable_cores())


def write_dataset(
    root: str | os.PathLike, config: SynthConfig | None = None, workers: int | None = None
) -> Path:
    """Generate the dataset into ``root`` (atomically: a temporary folder renamed at the end),
    rendering and encoding on ``workers`` processes (default: the usable cores, at most 8;
    the bytes do not depend on it).

    Returns ``root``. An existing complete dataset with the same settings is kept as is.
    """
    config = config or SynthConfig()
    root = Path(root)
    if is_complete(root, config):
        return root
    with building(root) as work:
        counts = {"train": config.num_train, "val": config.num_val}
        for split in counts:
            (work / "videos" / split).mkdir(parents=True)
        jobs = [(split, index) for split, count in counts.items() for index in range(count)]
        written = map_jobs(
            write_video, [(work, config, *job) for job in jobs], workers or default_workers()
        )
        for split in counts:
            rows = [row for (s, _), row in zip(jobs, written, strict=True) if s == split]
            motion = "".join(f"{path} {label}\n" for path, label, _ in rows)
            appearance = "".join(f"{path} {label}\n" for path, _, label in rows)
            (work / f"{split}.csv").write_text(motion)
            (work / f"{split}_appearance.csv").write_text(appearance)
        sets = work / "davis" / "ImageSets" / "2017"
        sets.mkdir(parents=True)
        (sets / "val.txt").write_text("".join(f"val{i:05d}\n" for i in range(config.num_val)))
        write_meta(work, FORMAT_VERSION, config, motion_classes=list(MOTION_CLASSES))
    return root


def is_complete(root: Path, config: SynthConfig) -> bool:
    """True if ``root`` holds a finished dataset made with ``config``."""
    return finished(root, config, FORMAT_VERSION)


@contextmanager
def building(root: Path) -> Iterator[Path]:
    """A fresh folder beside ``root`` to write into; it replaces ``root`` when the block
    ends, and is removed if the block fails (so a half-written dataset never shows)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    os.chmod(work, umask_mode(directory=True))  # mkdtemp makes it private (0700)
    try:
        yield work
        if root.exists():
            shutil.rmtree(root)
        os.replace(work, root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def write_meta(work: Path, version: int, config: Any, **names: list[str]) -> None:
    """``classes.json``: the format version, the generator's settings, the class names."""
    meta = {
        "format_version": version,
        "config": asdict(config),
        **names,
        "appearance_classes": list(APPEARANCE_CLASSES),
    }
    (work / "classes.json").write_text(json.dumps(meta, indent=2) + "\n")


def finished(root: Path, config: Any, version: int) -> bool:
    """True if ``root/classes.json`` says it was made by ``version`` with ``config``."""
    try:
        meta = json.loads((root / "classes.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    saved = json.loads(json.dumps(asdict(config)))  # tuples as lists, as in the file
    return meta.get("format_version") == version and meta.get("config") == saved


def default_cache_dir() -> Path:
    """``$SIGMA_VIDEO_CACHE`` or ``$XDG_CACHE_HOME/sigma-video`` (``~/.cache/sigma-video``)."""
    if os.environ.get("SIGMA_VIDEO_CACHE"):
        return Path(os.environ["SIGMA_VIDEO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sigma-video"


def default_dataset(
    config: SynthConfig | None = None, log: Callable[[str], None] | None = None
) -> Path:
    """The embedded dataset in the cache folder, generated on first use (saying so through
    ``log`` when given)."""
    config = config or SynthConfig()
    root = default_cache_dir() / f"synth-v{FORMAT_VERSION}-seed{config.seed}"
    if log is not None and not is_complete(root, config):
        log(
            f"generating the embedded dataset once: {config.num_train} + {config.num_val} "
            f"videos into {root} (about 30 s on 2 cores)"
        )
    return write_dataset(root, config)
