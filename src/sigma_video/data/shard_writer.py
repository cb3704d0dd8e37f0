"""Writing a list's videos as tar shards (``sigma-video data shard``): per sample the
encoded video (its own bytes, or re-encoded to a shorter side when asked) and a JSON of its
label(s), source path, frames, frame rate and size; per shard an index of where each
video lies in the tar; ``shards.json`` over them all (``data.shards`` reads them).

Shards are written one after another, each to a temporary name and renamed when whole,
then its index; a shard with an index is complete. Writing again into the same folder
continues after the last complete shard, so an interrupted job loses at most the shard it
was writing. Unreadable inputs are listed in the indexes and in ``shards.json`` and left
out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import tarfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.shards import FORMAT, MANIFEST, ShardIndex, index_path
from sigma_video.files import atomic_write_text

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_size(text: str) -> int:
    """Bytes of a size such as ``1GB``, ``500MB`` or ``1048576``; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", text.upper())
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"--shard-size must be a positive size such as 1GB or 500MB, got {text!r}")
    return int(float(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True)
class Prepared:
    """One input, ready to write: its position in the list, the video's bytes and file
    suffix and its metadata; or ``problem`` (why it is left out)."""

    position: int
    data: bytes = b""
    suffix: str = ".mp4"
    meta: dict | None = None
    problem: str | None = None


def probe(data: bytes | str) -> dict:
    """``frames``, ``fps``, ``width``, ``height`` of a video (a path or its bytes)."""
    import av

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with av.open(source) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)
        context = stream.codec_context
        return {
            "frames": int(frames),
            "fps": float(rate) if rate else None,
            "width": context.width,
            "height": context.height,
        }


def resized_size(width: int, height: int, short: int) -> tuple[int, int]:
    """``(width, height)`` with the shorter side ``short`` and the ratio kept, both even
    (H.264 in yuv420p), as ``ffmpeg -vf scale=-2:short`` gives for a landscape video."""
    scale = short / min(width, height)
    even = lambda x: max(2, round(x * scale / 2) * 2)  # noqa: E731
    return (short, even(height)) if width < height else (even(width), short)


def reencode(path: str, short: int, crf: int = 23) -> bytes:
    """The video at ``path`` as H.264 ``.mp4`` bytes with its shorter side ``short``, at its
    own frame rate; audio left out."""
    import av

    out = io.BytesIO()
    with av.open(path) as source, av.open(out, "w", format="mp4") as target:
        stream = source.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        width, height = resized_size(stream.codec_context.width, stream.codec_context.height, short)
        encoder = target.add_stream("libx264", rate=rate)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.options = {"crf": str(crf), "preset": "veryfast"}
        encoder.codec_context.time_base = Fraction(1) / Fraction(rate)
        for count, frame in enumerate(source.decode(stream)):
            image = frame.reformat(width=width, height=height, format="yuv420p")
            image.pts, image.time_base = count, encoder.codec_context.time_base
            for packet in encoder.encode(image):
                target.mux(packet)
        for packet in encoder.encode():
            target.mux(packet)
    return out.getvalue()


def prepare(position: int, record: VideoRecord, resize_short: int | None) -> Prepared:
    """Read (and when asked re-encode) one input; never raises for a bad input."""
    if record.is_frames or record.is_image:
        return Prepared(position, problem="frame folders and images are not sharded")
    try:
        meta = probe(record.path)
        if resize_short and min(meta["width"], meta["height"]) > resize_short:
            data, suffix = reencode(record.path, resize_short), ".mp4"
            meta = probe(data)
        else:
            data, suffix = Path(record.path).read_bytes(), Path(record.path).suffix.lower()
    except Exception as err:  # any decoder or file error: the input is listed and left out
        return Prepared(position, problem=str(err).splitlines()[0] if str(err) else repr(err))
    meta |= {"source": record.path, "label": record.label}
    if record.labels:
        meta["labels"] = list(record.labels)
    if record.start:  # a clip inside the video: where it starts, and its length if given
        meta["start"] = record.start
    if record.num_frames is not None:
        meta["clip_frames"] = record.num_frames
    return Prepared(position, data, suffix or ".mp4", meta)


def prepared(
    records: Sequence[VideoRecord], start: int, resize_short: int | None, jobs: int
) -> Iterator[Prepared]:
    """The inputs from ``start`` on, in list order (``jobs`` processes read them, at most
    ``2 · jobs`` videos ahead of the writer, so memory stays bounded)."""
    if jobs <= 1:
        for i in range(start, len(records)):
            yield prepare(i, records[i], resize_short)
        return
    with ProcessPoolExecutor(jobs) as pool:
        ahead: deque[Future[Prepared]] = deque()
        for i in range(start, len(records)):
            ahead.append(pool.submit(prepare, i, records[i], resize_short))
            if len(ahead) >= 2 * jobs:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def shard_name(number: int) -> str:
    return f"{number:06d}.tar"


def sources_digest(paths: Sequence[str]) -> str:
    """A digest of the inputs' paths, in order (what a shard was written from)."""
    return hashlib.sha1("\n".join(paths).encode()).hexdigest()


def completed(
    output: Path, records: Sequence[VideoRecord], resize_short: int | None = None
) -> list[dict]:
    """The shards already complete in ``output`` (each with an index), in order; ValueError
    when they were written from another list or with another ``resize_short``."""
    done = []
    while (output / shard_name(len(done))).exists():
        where = Path(index_path(str(output / shard_name(len(done)))))
        if not where.exists():
            break
        entry = json.loads(where.read_text())["written"]
        first, end = entry["first"], entry["end"]
        written = sources_digest([r.path for r in records[first:end]])
        if end > len(records) or entry.get("sources") != written:
            raise ValueError(
                f"{output} holds shards of another list ({entry['first_source']} first in "
                f"{shard_name(len(done))}); write to another --output"
            )
        if entry.get("resize_short") != resize_short:
            raise ValueError(
                f"{output} holds shards written with --resize-short "
                f"{entry.get('resize_short')}; give the same or write to another --output"
            )
        done.append(entry)
    return done


class ShardWriter:
    """Fills shards of about ``shard_size`` bytes in ``output``, one at a time."""

    def __init__(
        self, output: Path, shard_size: int, number: int, resize_short: int | None = None
    ) -> None:
        self.output, self.shard_size, self.number = output, shard_size, number
        self.resize_short = resize_short
        self.tar: tarfile.TarFile | None = None
        self.index = ShardIndex([], [], [], [], [], [], [])
        self.skipped: list[list[str]] = []
        self.sources: list[str] = []  # every input of the shard, left out or not
        self.first: int | None = None
        self.first_source: str | None = None

    @property
    def path(self) -> Path:
        return self.output / shard_name(self.number)

    def add(self, item: Prepared, record: VideoRecord) -> None:
        if self.tar is None:
            self.first, self.first_source = item.position, record.path
            partial = self.path.with_suffix(".tar.partial")
            self.tar = tarfile.open(partial, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
        self.sources.append(record.path)
        if item.problem is not None:
            self.skipped.append([record.path, item.problem])
            return
        key = f"{item.position:09d}"
        _add(self.tar, key + item.suffix, item.data)
        _add(self.tar, key + ".json", json.dumps(item.meta, sort_keys=True).encode())
        self.index.keys.append(key)
        self.index.labels.append(int(item.meta["label"]))
        self.index.multi.append(list(item.meta.get("labels", [])))
        self.index.starts.append(record.start)
        self.index.lengths.append(-1 if record.num_frames is None else record.num_frames)

    @property
    def full(self) -> bool:
        return self.tar is not None and self.tar.offset >= self.shard_size

    def close(self, end: int) -> dict | None:
        """Finish the shard (the inputs before ``end`` are in it): on disk, then renamed
        whole, then its index. Returns its manifest entry (None if nothing was added)."""
        if self.tar is None:
            return None
        self.tar.close()
        partial = self.path.with_suffix(".tar.partial")
        with open(partial, "rb") as written:  # on disk before any rename says it is whole
            os.fsync(written.fileno())
        with tarfile.open(partial, "r:") as tar:  # where each video's bytes lie
            videos = {
                m.name.partition(".")[0]: (m.offset_data, m.size)
                for m in tar
                if not m.name.endswith(".json")
            }
        os.replace(partial, self.path)
        index = dataclasses.replace(
            self.index,
            offsets=[videos[key][0] for key in self.index.keys],
            sizes=[videos[key][1] for key in self.index.keys],
        ).trimmed()
        entry = {
            "name": self.path.name,
            "samples": len(index.keys),
            "bytes": self.path.stat().st_size,
            "first": self.first,
            "end": end,
            "first_source": self.first_source,
            "sources": sources_digest(self.sources),
            "resize_short": self.resize_short,
            "skipped": self.skipped,
        }
        payload = {**index.to_json(), "written": entry}
        atomic_write_text(Path(index_path(str(self.path))), json.dumps(payload))
        return entry


def write_shards(
    records: Sequence[VideoRecord],
    output: str | os.PathLike,
    shard_size: int = 10**9,
    resize_short: int | None = None,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write ``records`` as shards in ``output`` (continuing after its complete shards);
    returns the manifest written to ``output/shards.json``."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    entries = completed(output, records, resize_short)
    start = entries[-1]["end"] if entries else 0
    if progress is not None and start:
        progress(start)
    writer = ShardWriter(output, shard_size, len(entries), resize_short)
    for item in prepared(records, start, resize_short, jobs):
        writer.add(item, records[item.position])
        if progress is not None:
            progress(1)
        if writer.full:
            entries.append(writer.close(item.position + 1))
            writer = ShardWriter(output, shard_size, len(entries), resize_short)
    last = writer.close(len(records))
    if last is not None:
        entries.append(last)
    shards = [e for e in entries if e["samples"]]
    manifest = {
        "format": FORMAT,
        "samples": sum(e["samples"] for e in shards),
        "shards": [{"name": e["name"], "samples": e["samples"]} for e in shards],
        "skipped": [s for e in entries for s in e["skipped"]],
    }
    atomic_write_text(output / MANIFEST, json.dumps(manifest, indent=1))
    return manifest
