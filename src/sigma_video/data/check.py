"""Pre-flight checks of a list before any GPU time is spent: lines that cannot be read,
files that are missing, that cannot be decoded, that are shorter than a clip or smaller
than the crop.

``missing_files`` is the fast existence check every run does when it starts;
``check_records`` (``sigma-video data check LIST``) opens every file and decodes its first
frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sigma_video.data.annotations import ListProblem, VideoRecord
from sigma_video.data.decode import Backend, DecodeError, FrameFolder, ImageFile, get_backend
from sigma_video.data.shards import ShardRecords, parse_address

PROBLEMS = ("malformed", "missing", "undecodable", "too_short", "too_small")


@dataclass
class CheckReport:
    """Entries with each problem, as ``(path, detail)`` (a malformed list line: ``("line
    N", reason and text)``); ``ok`` counts the rest of the ``total`` entries."""

    total: int
    ok: int = 0
    problems: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: {kind: [] for kind in PROBLEMS}
    )

    def counts(self) -> dict[str, int]:
        return {"total": self.total, "ok": self.ok, **{k: len(v) for k, v in self.problems.items()}}

    @property
    def unusable(self) -> int:
        """Entries a run cannot use at all: lines it leaves out, files it cannot read (short
        and small ones are padded / upscaled)."""
        return sum(len(self.problems[k]) for k in ("malformed", "missing", "undecodable"))


def missing_files(records: Sequence[VideoRecord]) -> list[str]:
    """Paths (videos, images or frame folders) that do not exist, in list order."""
    return [r.path for r in records if not os.path.exists(r.path)]


def clip_span(num_frames: int, stride: int) -> int:
    """Source frames one clip covers: ``(num_frames - 1) · stride + 1``."""
    return (num_frames - 1) * stride + 1


def check_record(
    record: VideoRecord, min_frames: int, min_size: int, videos: Backend
) -> tuple[str | None, str]:
    """``(problem kind or None, detail)`` for one record; decodes its first frame
    (``videos`` decodes video files; frame folders and images have their own readers)."""
    if parse_address(record.path) is None and not os.path.exists(record.path):
        return "missing", "no such file or folder"
    backend = FrameFolder() if record.is_frames else ImageFile() if record.is_image else videos
    try:
        frames = record.num_frames or backend.num_frames(record.path)
        first = backend.decode(record.path, [record.start])
    except DecodeError as err:
        return "undecodable", str(err).split(": ", 1)[-1]
    height, width = first.shape[1:3]
    if min(height, width) < min_size:
        return "too_small", f"{width}x{height} < {min_size}"
    if not record.is_image and frames < min_frames:
        return "too_short", f"{frames} frames < {min_frames}"
    return None, ""


def check_records(
    records: Sequence[VideoRecord],
    min_frames: int,
    min_size: int,
    backend: str = "pyav",
    workers: int = 4,
    malformed: Sequence[ListProblem] = (),
) -> CheckReport:
    """Check every record (``workers`` threads: decoding releases the GIL); ``malformed``:
    the lines of the list the records were read from that were left out."""
    report = CheckReport(total=len(records) + len(malformed))
    report.problems["malformed"] = [
        (f"line {p.line}", f"{p.reason}: {p.text!r}") for p in malformed
    ]
    videos = get_backend(backend)

    def one(record: VideoRecord) -> tuple[str, str | None, str]:
        kind, detail = check_record(record, min_frames, min_size, videos)
        return record.path, kind, detail

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for path, kind, detail in pool.map(one, records):
            if kind is None:
                report.ok += 1
            else:
                report.problems[kind].append((path, detail))
    return report


def refuse_missing(
    records: Sequence[VideoRecord],
    source: str,
    max_fraction: float,
    min_count: int = 10,
    log: Callable[[str], None] = print,
) -> None:
    """The fast check a run makes when it starts: more missing files than a run may skip
    (``max(min_count, max_fraction · N)``, the loader's own limit) is a ValueError before
    any training; fewer are one warning line. Of tar shards only the shards are checked,
    one stat each: a missing shard counts all its samples."""
    if isinstance(records, ShardRecords):
        return refuse_missing_shards(records, source, max_fraction, min_count, log)
    missing = missing_files(records)
    if not missing:
        return
    first = ", ".join(missing[:3])
    if len(missing) > max(min_count, max_fraction * len(records)):
        raise ValueError(
            f"{len(missing)} of {len(records)} files of {source} do not exist (first: {first}); "
            f"check --data-root (relative paths are otherwise read from the list's folder) "
            f"or run `sigma-video data check {source}`"
        )
    log(
        f"warning: {len(missing)} of {len(records)} files of {source} do not exist and will "
        f"be skipped (first: {first})"
    )


def refuse_missing_shards(
    records: ShardRecords,
    source: str,
    max_fraction: float,
    min_count: int = 10,
    log: Callable[[str], None] = print,
) -> None:
    """``refuse_missing`` for tar shards: the samples of the missing shards against the
    same limit."""
    missing = records.missing()
    if not missing:
        return
    lost = sum(records.counts[records.shards.index(s)] for s in missing)
    text = f"{len(missing)} of {len(records.shards)} shards of {source} do not exist "
    text += f"({lost} of {len(records)} samples; first: {missing[0]})"
    if lost > max(min_count, max_fraction * len(records)):
        raise ValueError(text)
    log(f"warning: {text}; their samples will be skipped")
