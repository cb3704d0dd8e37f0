"""Datasets kept as tar shards (the WebDataset layout: a sample is the files of one key,
``KEY.mp4`` and ``KEY.json``), read by index so that the run's own sampler drives them:
a sample is still a pure function of ``(seed, epoch, index)``, and mid-epoch resume, the
split across ranks and workers and the skipping of bad samples work as for a list.

Where the samples are: ``shards.json`` (``sigma-video data shard`` writes it: each shard's
name and sample count), a folder holding one, or shard names with brace ranges
(``DIR/{000000..000999}.tar``). Each shard has an index beside it, ``NAME.index.json``:
per sample its key, the byte offset and size of its video inside the tar, and its label.
A shard without one (e.g. written by ``video2dataset``) is indexed by reading its tar
headers when first needed. Starting a run reads only ``shards.json`` (or, for brace names,
the indexes): no per-sample file is opened or stat'ed before the first step.

A sample's ``VideoRecord.path`` is its address, ``SHARD#KEY@OFFSET+SIZE``; the decoders
read those bytes from the shard (``read_member``) and decode them in memory. Shards named
by URL (``http://``, ``s3://`` through ``pipe:`` commands, anything ``webdataset.gopen``
opens) are copied whole into a local cache by the first process that needs them. A shard
that cannot be read (gone, damaged, its index too) is a ``ShardError``: a ``DecodeError``
of the shard, so its samples are skipped as bad ones.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import os
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sigma_video.data.annotations import VIDEO_SUFFIXES, VideoRecord
from sigma_video.data.decode import DecodeError
from sigma_video.files import first_line

INDEX_SUFFIX = ".index.json"
MANIFEST = "shards.json"
FORMAT = "sigma-video shards 1"
_ADDRESS = re.compile(r"^(?P<shard>.+)#(?P<key>[^#@]*)@(?P<offset>\d+)\+(?P<size>\d+)$")
_REMOTE = re.compile(r"^(pipe:|[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


class ShardError(DecodeError):
    """A shard, or its index, that cannot be read: a ``DecodeError`` whose ``path`` is the
    shard, so its samples are skipped as bad ones and it is reported once, under its name."""


@dataclass(frozen=True)
class ShardIndex:
    """One shard's samples, in order: ``keys``, the byte ``offsets`` and ``sizes`` of their
    videos inside the tar, ``labels`` (-1: none), for multi-label samples their ``labels``
    lists in ``multi`` and, for clips inside a video (a list's start frame, a segment's
    length), ``starts`` and ``lengths`` (-1: to the end)."""

    keys: list[str]
    offsets: list[int]
    sizes: list[int]
    labels: list[int]
    multi: list[list[int]] | None = None
    starts: list[int] | None = None
    lengths: list[int] | None = None

    def to_json(self) -> dict:
        out = {"keys": self.keys, "offsets": self.offsets, "sizes": self.sizes}
        out["labels"] = self.labels
        for name in ("multi", "starts", "lengths"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_json(cls, data: dict) -> ShardIndex:
        optional = (data.get(name) for name in ("multi", "starts", "lengths"))
        return cls(data["keys"], data["offsets"], data["sizes"], data["labels"], *optional)

    def trimmed(self) -> ShardIndex:
        """The same index without the optional columns that hold nothing."""
        return dataclasses.replace(
            self,
            multi=self.multi if self.multi and any(self.multi) else None,
            starts=self.starts if self.starts and any(self.starts) else None,
            lengths=self.lengths if self.lengths and any(n >= 0 for n in self.lengths) else None,
        )

    def record(self, shard: str, i: int) -> VideoRecord:
        """Sample ``i`` of this index as a record of ``shard``."""
        start = self.starts[i] if self.starts else 0
        length = self.lengths[i] if self.lengths and self.lengths[i] >= 0 else None
        return VideoRecord(
            member_address(shard, self.keys[i], self.offsets[i], self.sizes[i]),
            label=self.labels[i],
            start=start,
            num_frames=length,
            labels=tuple(self.multi[i]) if self.multi else (),
        )


def is_remote(location: str) -> bool:
    """A URL or ``pipe:`` command rather than a local path."""
    return bool(_REMOTE.match(location))


def member_address(shard: str, key: str, offset: int, size: int) -> str:
    """The ``VideoRecord.path`` of a sample's video inside ``shard``."""
    return f"{shard}#{key}@{offset}+{size}"


def parse_address(path: str) -> tuple[str, str, int, int] | None:
    """``(shard, key, offset, size)`` of a sample address, or None for a plain path."""
    match = _ADDRESS.match(path)
    if match is None:
        return None
    return match["shard"], match["key"], int(match["offset"]), int(match["size"])


def is_shard_source(source: str | os.PathLike) -> bool:
    """``source`` names shards: ``shards.json``, a folder holding one, or ``.tar`` names."""
    text = str(source)
    if text.endswith(MANIFEST) or re.search(r"\.tar(\}|$)", text):
        return True
    return os.path.isdir(text) and os.path.exists(os.path.join(text, MANIFEST))


def _beside(path: str) -> str:
    return (path[: -len(".tar")] if path.endswith(".tar") else path) + INDEX_SUFFIX


def index_path(shard: str) -> str | None:
    """Where a shard's index lies: beside it, ``NAME.index.json`` for ``NAME.tar`` (of a
    URL, its path so changed and its query kept); None for a ``pipe:`` command, which has
    no name to put one beside."""
    if shard.lower().startswith("pipe:"):
        return None
    if is_remote(shard):
        parts = urlsplit(shard)
        return urlunsplit(parts._replace(path=_beside(parts.path)))
    return _beside(shard)


def scan_shard(path: str, name: str | None = None) -> ShardIndex:
    """Index a tar shard from its headers: each key's video member (WebDataset's key: the
    member's name up to the first dot of its base name) and, from its ``.json``, ``label``
    or ``labels`` and a clip's ``start`` and ``clip_frames``. A truncated shard keeps the
    samples before the cut; ShardError (naming the shard as ``name``, default ``path``)
    when not even a header can be read or a sample's JSON is not what it should be."""
    name = name or path
    members: dict[str, dict] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            try:
                for info in tar:
                    if not info.isfile():
                        continue
                    folder, base = os.path.split(info.name)
                    stem, _, suffix = base.partition(".")
                    entry = members.setdefault(os.path.join(folder, stem), {})
                    if "." + suffix.lower() in VIDEO_SUFFIXES:
                        entry["video"] = (info.offset_data, info.size)
                    elif suffix.lower() == "json":
                        try:
                            entry["meta"] = json.loads(tar.extractfile(info).read())
                        except ValueError as err:
                            reason = f"{info.name} is not JSON ({first_line(err)})"
                            raise ShardError(name, reason) from None
            except (tarfile.ReadError, EOFError, OSError):
                pass  # truncated: the members read so far stand
    except (tarfile.ReadError, OSError) as err:
        raise ShardError(name, f"not a readable tar shard ({first_line(err)})") from None
    index = ShardIndex([], [], [], [], [], [], [])
    for key, entry in members.items():
        if "video" not in entry:
            continue
        meta = entry.get("meta", {})
        try:
            label, labels = int(meta.get("label", -1)), [int(x) for x in meta.get("labels", [])]
            start, length = int(meta.get("start", 0)), int(meta.get("clip_frames", -1))
        except (TypeError, ValueError):
            raise ShardError(name, f"sample {key}: labels and frames must be integers") from None
        index.keys.append(key)
        index.offsets.append(entry["video"][0])
        index.sizes.append(entry["video"][1])
        index.labels.append(label)
        index.multi.append(labels)
        index.starts.append(start)
        index.lengths.append(length)
    return index.trimmed()


def _parse_index(shard: str, where: str) -> ShardIndex:
    try:
        return ShardIndex.from_json(json.loads(Path(where).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ShardError(shard, f"unreadable index {where} ({first_line(err)})") from None


def read_index(shard: str) -> ShardIndex:
    """A shard's index: its ``.index.json`` (local or remote), else a scan of its headers
    (of a remote shard: of its local copy); ShardError naming the shard otherwise."""
    where = index_path(shard)
    if is_remote(shard):
        if where is not None:
            try:
                return _parse_index(shard, local_copy(where))
            except ShardError:  # none beside it (or not one): the shard's own headers
                pass
        return scan_shard(local_copy(shard), name=shard)
    if os.path.exists(where):
        return _parse_index(shard, where)
    if not os.path.exists(shard):
        raise ShardError(shard, "shard not found")
    return scan_shard(shard)


def expand(pattern: str) -> list[str]:
    """Shard names of a brace pattern (``DIR/{000000..000099}.tar``), in order."""
    from braceexpand import braceexpand

    return list(braceexpand(pattern))


class ShardRecords(Sequence[VideoRecord]):
    """The samples of several shards as one sequence of records, made when indexed: only
    the shards' names and counts are held; a shard's index is read the first time one of
    its samples is asked for, in the process that asks (a loader worker)."""

    def __init__(
        self, shards: Sequence[str], counts: Sequence[int], indexes: dict | None = None
    ) -> None:
        if len(shards) != len(counts):
            raise ValueError("one sample count per shard")
        self.shards, self.counts = list(shards), list(counts)
        self.starts = [0]
        for count in self.counts:
            self.starts.append(self.starts[-1] + count)
        self._indexes: dict[int, ShardIndex | ShardError] = dict(indexes or {})

    def __len__(self) -> int:
        return self.starts[-1]

    def index_of(self, shard: int) -> ShardIndex:
        if shard not in self._indexes:  # read once per process; a failure is kept too
            try:
                index = read_index(self.shards[shard])
                if len(index.keys) < self.counts[shard]:
                    reason = f"its index lists {len(index.keys)} samples, {self.counts[shard]}"
                    raise ShardError(self.shards[shard], reason + " expected")
                self._indexes[shard] = index
            except ShardError as err:  # not fetched or read again for each of its samples
                self._indexes[shard] = err
        found = self._indexes[shard]
        if isinstance(found, ShardError):
            raise ShardError(found.path, found.reason)
        return found

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        shard = bisect.bisect_right(self.starts, i) - 1
        return self.index_of(shard).record(self.shards[shard], i - self.starts[shard])

    def missing(self) -> list[str]:
        """The local shards that do not exist (remote ones are checked when fetched)."""
        return [s for s in self.shards if not is_remote(s) and not os.path.exists(s)]


def samples_in(records: Sequence[VideoRecord]) -> dict[str, int]:
    """Each shard of ``records`` (shards, or sources mixed from shards and lists) with its
    sample count: what a bad shard stands for."""
    if isinstance(records, ShardRecords):
        return dict(zip(records.shards, records.counts, strict=True))
    counts: dict[str, int] = {}
    for part in getattr(records, "sources", ()):  # ``MixedRecords``
        counts.update(samples_in(part))
    return counts


def read_shards(source: str | os.PathLike) -> ShardRecords:
    """The records of ``source``: ``shards.json``, a folder holding one, or shard names
    with brace ranges; ValueError (one line) for a manifest that cannot be read."""
    text = str(source)
    if os.path.isdir(text):
        text = os.path.join(text, MANIFEST)
    if text.endswith(MANIFEST):
        try:
            manifest = json.loads(Path(local_copy(text, fresh=True)).read_text(encoding="utf-8"))
            base = text[: -len(MANIFEST)]
            shards = [s["name"] for s in manifest["shards"]]
            counts = [int(s["samples"]) for s in manifest["shards"]]
        except (OSError, ShardError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{text}: not a readable shard manifest ({err})") from None
        located = [s if is_remote(s) or os.path.isabs(s) else base + s for s in shards]
        return ShardRecords(located, counts)
    names = expand(text)
    try:
        indexes = dict(enumerate(read_index(name) for name in names))
    except ShardError as err:
        raise ValueError(str(err)) from None
    return ShardRecords(names, [len(i.keys) for i in indexes.values()], indexes)


def cache_dir() -> Path:
    """Where remote shards are copied: ``$SIGMA_VIDEO_SHARD_CACHE``, else
    ``~/.cache/sigma-video/shards``."""
    default = Path.home() / ".cache" / "sigma-video" / "shards"
    return Path(os.environ.get("SIGMA_VIDEO_SHARD_CACHE", default))


def local_copy(location: str, fresh: bool = False) -> str:
    """A local path for ``location``: itself, or its copy in ``cache_dir()``, fetched with
    ``webdataset.gopen`` (URLs, ``pipe:`` commands) by one process at a time (the others
    wait for it and read its copy), renamed into place whole; once, or again with
    ``fresh`` (a manifest). Nothing fetched is an error, not an empty copy. The cache is
    never emptied: it grows to the remote shards a run reads."""
    if not is_remote(location):
        return location
    import fcntl

    digest = hashlib.sha1(location.encode()).hexdigest()[:16]
    target = cache_dir() / f"{digest}-{os.path.basename(urlsplit(location).path)}"
    if target.exists() and not fresh:
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists() and not fresh:  # fetched while this process waited
            return str(target)
        _fetch(location, target)
    return str(target)


def _fetch(location: str, target: Path) -> None:
    from webdataset import gopen

    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with gopen(location, "rb") as stream, open(partial, "wb") as out:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
        if partial.stat().st_size == 0:
            raise OSError("nothing was fetched")
        os.replace(partial, target)
    except Exception as err:  # any transport's failure: one line naming the shard
        partial.unlink(missing_ok=True)
        raise ShardError(location, f"cannot fetch ({first_line(err)})") from None


class MemberReader:
    """Reads a sample's bytes from its shard with ``os.pread`` (no shared file position, so
    loader workers forked with a shard open never disturb each other); keeps the last few
    shards open (the most recently opened 64), so a worker reading many samples of one
    shard opens it once."""

    def __init__(self, keep_open: int = 64) -> None:
        self.keep_open = keep_open
        self._files: dict[str, int] = {}
        self._pid = os.getpid()

    def __call__(self, address: str) -> bytes:
        parsed = parse_address(address)
        if parsed is None:
            raise ValueError(f"not a shard sample address: {address}")
        shard, _, offset, size = parsed
        data = os.pread(self._open(shard), size, offset)
        if len(data) != size:
            raise ShardError(shard, "truncated shard (a sample ends past its end)")
        return data

    def _open(self, shard: str) -> int:
        if os.getpid() != self._pid:  # a forked worker opens its own
            self._files, self._pid = {}, os.getpid()
        if shard not in self._files:
            if len(self._files) >= self.keep_open:
                os.close(self._files.pop(next(iter(self._files))))
            try:
                self._files[shard] = os.open(local_copy(shard), os.O_RDONLY)
            except FileNotFoundError:
                raise ShardError(shard, "shard not found") from None
        return self._files[shard]

    def __getstate__(self) -> dict:  # open files stay in the process that opened them
        return {"keep_open": self.keep_open, "_files": {}, "_pid": -1}


read_member = MemberReader()
