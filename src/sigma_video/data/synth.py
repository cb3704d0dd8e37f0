"""The embedded default dataset: procedurally generated videos of moving textured shapes.

Each video shows one striped shape (the *appearance* class, like K400's object/scene cue)
doing one motion (the *motion* class, like SSv2: four directions of travel and two
directions of rotation) over a smooth coloured background, sometimes with a static
distractor shape behind it. Everything is a pure function of ``(seed, split, index)``.

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
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

APPEARANCE_CLASSES = ("square", "circle", "triangle", "diamond", "cross", "ring")
MOTION_CLASSES = ("right", "left", "down", "up", "clockwise", "counterclockwise")
FORMAT_VERSION = 2  # 2: byte-reproducible H.264


@dataclass(frozen=True)
class SynthConfig:
    num_train: int = 240
    num_val: int = 96
    frames: int = 32
    size: int = 96
    fps: int = 16
    seed: int = 0
    distractor_prob: float = 0.5
    crf: int = 20
    object_scale: tuple[float, float] = (0.13, 0.2)  # radius as a share of the frame size

    def __post_init__(self) -> None:
        if self.num_train < 1 or self.num_val < 1:
            raise ValueError("num_train and num_val must be >= 1")
        if self.frames < 2 or self.size < 32 or self.size % 2:
            raise ValueError("need frames >= 2 and an even size >= 32")


@dataclass(frozen=True)
class ShapeSpec:
    shape: int  # index into APPEARANCE_CLASSES
    radius: float
    colours: tuple[tuple[float, float, float], tuple[float, float, float]]
    stripes: float  # stripe frequency across the shape
    start: tuple[float, float]  # centre (x, y) at frame 0, pixels
    velocity: tuple[float, float]  # pixels per frame
    angle: float  # radians at frame 0
    spin: float  # radians per frame


@dataclass(frozen=True)
class VideoSpec:
    motion: int  # index into MOTION_CLASSES
    main: ShapeSpec
    distractor: ShapeSpec | None
    background: tuple[tuple[float, float, float], tuple[float, float, float]]
    background_seed: int


def _colour(rng: random.Random) -> tuple[float, float, float]:
    return (rng.random(), rng.random(), rng.random())


def video_spec(config: SynthConfig, split: str, index: int) -> VideoSpec:
    """The content of one video, a pure function of the seed, split and index."""
    rng = random.Random(f"sigma-video-synth/{config.seed}/{split}/{index}")
    s, t = config.size, config.frames
    motion = rng.randrange(len(MOTION_CLASSES))
    radius = s * rng.uniform(*config.object_scale)
    margin = radius * 1.1
    if motion < 4:  # travel across the frame
        travel = rng.uniform(0.45, 0.75) * (s - 2 * margin)
        along = rng.uniform(margin, s - margin - travel)  # start on the axis of travel
        across = rng.uniform(margin, s - margin)
        speed = travel / (t - 1)
        direction = {0: (1, 0), 1: (-1, 0), 2: (0, 1), 3: (0, -1)}[motion]
        forward = direction[0] + direction[1] > 0
        first = along if forward else s - along
        start = (first, across) if direction[0] else (across, first)
        velocity = (direction[0] * speed, direction[1] * speed)
        spin = 0.0
    else:  # rotate in place
        start = (rng.uniform(margin, s - margin), rng.uniform(margin, s - margin))
        velocity = (0.0, 0.0)
        spin = math.radians(rng.uniform(5.0, 10.0)) * (1 if motion == 4 else -1)
    main = ShapeSpec(
        shape=rng.randrange(len(APPEARANCE_CLASSES)),
        radius=radius,
        colours=(_colour(rng), _colour(rng)),
        stripes=rng.uniform(2.0, 4.0),
        start=start,
        velocity=velocity,
        angle=rng.uniform(0, 2 * math.pi),
        spin=spin,
    )
    distractor = None
    if rng.random() < config.distractor_prob:
        r = s * rng.uniform(0.08, 0.12)
        distractor = ShapeSpec(
            shape=rng.choice([k for k in range(len(APPEARANCE_CLASSES)) if k != main.shape]),
            radius=r,
            colours=(_colour(rng), _colour(rng)),
            stripes=rng.uniform(1.0, 2.0),
            start=(rng.uniform(r, s - r), rng.uniform(r, s - r)),
            velocity=(0.0, 0.0),
            angle=rng.uniform(0, 2 * math.pi),
            spin=0.0,
        )
    background = (_colour(rng), _colour(rng))
    return VideoSpec(motion, main, distractor, background, rng.randrange(2**31))


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership in a unit-size shape, in the shape's own coordinates."""
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


def _draw(frame: np.ndarray, ids: np.ndarray, spec: ShapeSpec, t: int, label: int) -> None:
    s = frame.shape[0]
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    cx = spec.start[0] + spec.velocity[0] * t
    cy = spec.start[1] + spec.velocity[1] * t
    theta = spec.angle + spec.spin * t
    dx, dy = (x - cx) / spec.radius, (y - cy) / spec.radius
    u = dx * math.cos(theta) + dy * math.sin(theta)
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    inside = _inside(spec.shape, u, v)
    stripe = np.sin(math.pi * spec.stripes * u) > 0
    colour = np.where(stripe[..., None], spec.colours[0], spec.colours[1])
    frame[inside] = colour[inside]
    ids[inside] = label


def render(spec: VideoSpec, frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``uint8 (T, S, S, 3)`` RGB frames and ``uint8 (T, S, S)`` object ids (0 background)."""
    g = torch.Generator().manual_seed(spec.background_seed)
    field = F.interpolate(torch.rand(1, 1, 4, 4, generator=g), size=(size, size), mode="bicubic")
    field = field.clamp(0, 1)[0, 0, :, :, None].numpy()
    c0, c1 = np.array(spec.background[0]), np.array(spec.background[1])
    background = c0 * (1 - field) + c1 * field  # (S, S, 3)
    rgb = np.empty((frames, size, size, 3), np.float32)
    ids = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):
        rgb[t] = background
        if spec.distractor is not None:
            _draw(rgb[t], ids[t], spec.distractor, t, 2)
        _draw(rgb[t], ids[t], spec.main, t, 1)
    return (rgb * 255).round().clip(0, 255).astype(np.uint8), ids


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


def write_dataset(root: str | os.PathLike, config: SynthConfig | None = None) -> Path:
    """Generate the dataset into ``root`` (atomically: a temporary folder renamed at the end).

    Returns ``root``. An existing complete dataset with the same settings is kept as is.
    """
    config = config or SynthConfig()
    root = Path(root)
    if is_complete(root, config):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        davis = work / "davis"
        for split, count in (("train", config.num_train), ("val", config.num_val)):
            (work / "videos" / split).mkdir(parents=True)
            motion_lines, appearance_lines = [], []
            for index in range(count):
                spec = video_spec(config, split, index)
                rgb, ids = render(spec, config.frames, config.size)
                relative = f"videos/{split}/{index:05d}.mp4"
                write_mp4(work / relative, rgb, config.fps, config.crf)
                motion_lines.append(f"{relative} {spec.motion}")
                appearance_lines.append(f"{relative} {spec.main.shape}")
                if split == "val":
                    write_davis(davis, f"{split}{index:05d}", rgb, ids)
            (work / f"{split}.csv").write_text("\n".join(motion_lines) + "\n")
            (work / f"{split}_appearance.csv").write_text("\n".join(appearance_lines) + "\n")
        sets = davis / "ImageSets" / "2017"
        sets.mkdir(parents=True)
        (sets / "val.txt").write_text("".join(f"val{i:05d}\n" for i in range(config.num_val)))
        meta = {
            "format_version": FORMAT_VERSION,
            "config": asdict(config),
            "motion_classes": list(MOTION_CLASSES),
            "appearance_classes": list(APPEARANCE_CLASSES),
        }
        (work / "classes.json").write_text(json.dumps(meta, indent=2) + "\n")
        if root.exists():
            shutil.rmtree(root)
        os.replace(work, root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return root


def is_complete(root: Path, config: SynthConfig) -> bool:
    """True if ``root`` holds a finished dataset made with ``config``."""
    try:
        meta = json.loads((root / "classes.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    saved = json.loads(json.dumps(asdict(config)))  # tuples as lists, as in the file
    return meta.get("format_version") == FORMAT_VERSION and meta.get("config") == saved


def default_cache_dir() -> Path:
    """``$SIGMA_VIDEO_CACHE`` or ``$XDG_CACHE_HOME/sigma-video`` (``~/.cache/sigma-video``)."""
    if os.environ.get("SIGMA_VIDEO_CACHE"):
        return Path(os.environ["SIGMA_VIDEO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sigma-video"


def default_dataset(config: SynthConfig | None = None) -> Path:
    """The embedded dataset in the cache folder, generated on first use."""
    config = config or SynthConfig()
    return write_dataset(default_cache_dir() / f"synth-v{FORMAT_VERSION}-seed{config.seed}", config)
