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
opens) are copied whole into a local cache the first time a process needs them.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sigma_video.data.annotations import VIDEO_SUFFIXES, VideoRecord

INDEX_SUFFIX = ".index.json"
MANIFEST = "shards.json"
FORMAT = "sigma-video shards 1"
_ADDRESS = re.compile(r"^(?P<shard>.+)#(?P<key>[^#@]*)@(?P<offset>\d+)\+(?P<size>\d+)$")
_REMOTE = re.compile(r"^(pipe:|[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


class ShardError(Exception):
    """A shard that cannot be read; ``str()`` is one line naming it."""


@dataclass(frozen=True)
class ShardIndex:
    """One shard's samples, in order: ``keys``, the byte ``offsets`` and ``sizes`` of their
    videos inside the tar, ``labels`` (-1: none) and, for multi-label samples, ``labels``
    lists in ``multi``."""

    keys: list[str]
    offsets: list[int]
    sizes: list[int]
    labels: list[int]
    multi: list[list[int]] | None = None

    def to_json(self) -> dict:
        out = {"keys": self.keys, "offsets": self.offsets, "sizes": self.sizes}
        out["labels"] = self.labels
        if self.multi is not None:
            out["multi"] = self.multi
        return out

    @classmethod
    def from_json(cls, data: dict) -> ShardIndex:
        return cls(data["keys"], data["offsets"], data["sizes"], data["labels"], data.get("multi"))


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


def index_path(shard: str) -> str:
    """Where a shard's index lies: beside it, ``NAME.index.json`` for ``NAME.tar``."""
    return (shard[: -len(".tar")] if shard.endswith(".tar") else shard) + INDEX_SUFFIX


def scan_shard(path: str) -> ShardIndex:
    """Index a tar shard from its headers: each key's video member (and label from its
    ``.json``, ``label`` or ``labels``). A truncated shard keeps the samples before the
    cut; ShardError when not even a header can be read."""
    members: dict[str, dict] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            try:
                for info in tar:
                    if not info.isfile():
                        continue
                    name = os.path.basename(info.name)
                    key, _, suffix = name.partition(".")
                    entry = members.setdefault(key, {})
                    if "." + suffix.lower() in VIDEO_SUFFIXES:
                        entry["video"] = (info.offset_data, info.size)
                    elif suffix.lower() == "json":
                        entry["meta"] = json.loads(tar.extractfile(info).read())
            except (tarfile.ReadError, EOFError, OSError):
                pass  # truncated: the members read so far stand
    except (tarfile.ReadError, OSError) as err:
        raise ShardError(f"{path}: not a readable tar shard ({err})") from None
    keys, offsets, sizes, labels, multi = [], [], [], [], []
    for key, entry in members.items():
        if "video" not in entry:
            continue
        meta = entry.get("meta", {})
        keys.append(key)
        offsets.append(entry["video"][0])
        sizes.append(entry["video"][1])
        labels.append(int(meta.get("label", -1)))
        multi.append([int(x) for x in meta.get("labels", [])])
    return ShardIndex(keys, offsets, sizes, labels, multi if any(multi) else None)


def read_index(shard: str) -> ShardIndex:
    """A shard's index: its ``.index.json`` (local or remote), else a scan of its headers."""
    where = index_path(shard)
    if is_remote(shard):
        return ShardIndex.from_json(json.loads(Path(local_copy(where)).read_text()))
    if os.path.exists(where):
        return ShardIndex.from_json(json.loads(Path(where).read_text()))
    if not os.path.exists(shard):
        raise ShardError(f"{shard}: shard not found")
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
        self._indexes: dict[int, ShardIndex] = dict(indexes or {})

    def __len__(self) -> int:
        return self.starts[-1]

    def index_of(self, shard: int) -> ShardIndex:
        if shard not in self._indexes:
            index = read_index(self.shards[shard])
            if len(index.keys) < self.counts[shard]:
                raise ShardError(
                    f"{self.shards[shard]}: its index lists {len(index.keys)} samples, "
                    f"{self.counts[shard]} expected"
                )
            self._indexes[shard] = index
        return self._indexes[shard]

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        shard = bisect.bisect_right(self.starts, i) - 1
        index, local = self.index_of(shard), i - self.starts[shard]
        labels = tuple(index.multi[local]) if index.multi else ()
        path = member_address(
            self.shards[shard], index.keys[local], index.offsets[local], index.sizes[local]
        )
        return VideoRecord(path, label=index.labels[local], labels=labels)

    def missing(self) -> list[str]:
        """The local shards that do not exist (remote ones are checked when fetched)."""
        return [s for s in self.shards if not is_remote(s) and not os.path.exists(s)]


def read_shards(source: str | os.PathLike) -> ShardRecords:
    """The records of ``source``: ``shards.json``, a folder holding one, or shard names
    with brace ranges; ValueError (one line) for a manifest that cannot be read."""
    text = str(source)
    if os.path.isdir(text):
        text = os.path.join(text, MANIFEST)
    if text.endswith(MANIFEST):
        try:
            manifest = json.loads(Path(local_copy(text)).read_text(encoding="utf-8"))
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


def local_copy(location: str) -> str:
    """A local path for ``location``: itself, or its copy in ``cache_dir()``, fetched once
    with ``webdataset.gopen`` (URLs, ``pipe:`` commands) and renamed into place whole."""
    if not is_remote(location):
        return location
    digest = hashlib.sha1(location.encode()).hexdigest()[:16]
    target = cache_dir() / f"{digest}-{os.path.basename(location.split('?')[0])}"
    if target.exists():
        return str(target)
    from webdataset import gopen

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with gopen(location, "rb") as stream, open(partial, "wb") as out:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
        os.replace(partial, target)
    except Exception as err:  # any transport's failure: one line naming the shard
        partial.unlink(missing_ok=True)
        raise ShardError(f"{location}: cannot fetch ({str(err).splitlines()[0]})") from None
    return str(target)


class MemberReader:
    """Reads a sample's bytes from its shard with ``os.pread`` (no shared file position, so
    loader workers forked with a shard open never disturb each other); keeps the last few
    shards open, so a worker reading many samples of one shard opens it once."""

    def __init__(self, keep_open: int = 8) -> None:
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
            raise ShardError(f"{shard}: truncated shard (a sample ends past its end)")
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
                raise ShardError(f"{shard}: shard not found") from None
        return self._files[shard]

    def __getstate__(self) -> dict:  # open files stay in the process that opened them
        return {"keep_open": self.keep_open, "_files": {}, "_pid": -1}


read_member = MemberReader()
