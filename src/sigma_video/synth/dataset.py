"""The embedded dataset's files: ``write_dataset(root)`` renders, encodes and lists every
video, and ``default_dataset`` keeps one copy in the cache folder.

The files (paths in the lists relative to ``root``, in the ``path label`` format):

    root/videos/{train,val}/NNNNN.mp4
    root/train.csv, val.csv                        motion labels
    root/train_appearance.csv, val_appearance.csv  appearance labels
    root/classes.json                              class names, the generator's settings
    root/davis/JPEGImages/480p/<seq>/00000.jpg     val videos, DAVIS-2017 layout, with
    root/davis/Annotations/480p/<seq>/00000.png    per-frame palette masks (1 = the moving
    root/davis/ImageSets/2017/val.txt              shape, 2 = the distractor)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sigma_video.synth.cache import building, default_cache_dir, finished, write_meta
from sigma_video.synth.pool import default_workers, map_jobs
from sigma_video.synth.render import render
from sigma_video.synth.spec import FORMAT_VERSION, MOTION_CLASSES, SynthConfig, video_spec
from sigma_video.synth.write import write_davis, write_mp4


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
