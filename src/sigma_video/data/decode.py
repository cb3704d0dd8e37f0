"""Video decoding: the only module that touches a decoder.

A backend answers three questions about a source (a video file or a folder of frames):
``num_frames(path)``, ``frame_size(path) -> (H, W)`` (from the header, without decoding)
and ``decode(path, frame_indices) -> uint8 (T, H, W, 3)`` (RGB, one frame per requested
index, repeats allowed, in the requested order). Every failure — a
missing or unreadable file, no video stream, corrupt data, a time limit exceeded — raises
``DecodeError`` with a one-line reason; the dataset turns those into skipped samples.

Backends: ``pyav`` (default; FFmpeg ships in its wheel), ``torchcodec`` (CPU, or NVDEC on a
CUDA device: ``decode_tensor`` returns the frames there) and ``decord`` when installed.
Frame folders (``.jpg``/``.png`` files, sorted by name) are read with Pillow whatever the
backend.
"""

from __future__ import annotations

import importlib.util
import io
import os
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from sigma_video.files import first_line

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


class DecodeError(Exception):
    """A sample that cannot be decoded; ``str()`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str = "") -> None:
        # one-argument form: how a DataLoader worker re-raises it in the main process
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}" if reason else str(path))

    def __reduce__(self):  # pickled (e.g. a dataset's kept failure): path and reason stay
        return type(self), (self.path, self.reason)


Positions = Sequence[int] | Callable[[int], Sequence[int]]
"""Frame positions to decode, or (for a backend with ``opens_once``) a function of the
file's frame count that returns them."""


class Backend(Protocol):
    name: str

    def num_frames(self, path: str) -> int: ...

    def frame_size(self, path: str) -> tuple[int, int]: ...

    def decode(self, path: str, frame_indices: Sequence[int]) -> np.ndarray: ...


def decode_tensor(
    source: Backend, path: str, frame_indices: Sequence[int], device: torch.device
) -> torch.Tensor:
    """``uint8 (T, H, W, 3)`` frames on ``device``: decoded there by a source that can
    (torchcodec on CUDA), else decoded on the CPU and copied."""
    if hasattr(source, "decode_tensor"):
        return source.decode_tensor(path, frame_indices).to(device)
    frames = np.ascontiguousarray(source.decode(path, frame_indices))
    return torch.from_numpy(frames).to(device)


def _image_size(path: str) -> tuple[int, int]:
    """``(height, width)`` of an image file, from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise DecodeError(path, "image file not found") from None
    except (OSError, UnidentifiedImageError) as err:
        raise DecodeError(path, f"unreadable image: {first_line(err)}") from None
    return height, width


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise DecodeError(path, "file not found")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise DecodeError(path, "permission denied")


def open_source(path: str) -> str | io.BytesIO:
    """What a decoder opens for ``path``: the file, checked, or for a sample inside a tar
    shard (``data.shards``) its bytes in memory; DecodeError when neither can be read (a
    truncated or missing shard is named as the shard, so it is reported once)."""
    from sigma_video.data.shards import parse_address, read_member

    if parse_address(path) is None:
        _check_file(path)
        return path
    try:  # a ShardError is a DecodeError of the shard
        return io.BytesIO(read_member(path))
    except OSError as err:
        raise DecodeError(path, f"cannot read its shard: {first_line(err)}") from None


def check_indices(path: str, frame_indices: Sequence[int]) -> None:
    if len(frame_indices) == 0:
        raise DecodeError(path, "no frames requested")
    if min(frame_indices) < 0:
        raise DecodeError(path, f"negative frame index {min(frame_indices)}")


def pick_frames(
    path: str, frames: dict[int, np.ndarray], frame_indices: Sequence[int]
) -> np.ndarray:
    """Stack the requested frames; an index past the last decodable frame (a header that
    over-states the length) takes the last frame before it."""
    if not frames:
        raise DecodeError(path, "no decodable frames")
    have = sorted(frames)
    out = []
    for index in frame_indices:
        if index not in frames:
            earlier = [k for k in have if k <= index]
            index = earlier[-1] if earlier else have[0]
        out.append(frames[index])
    return np.stack(out)


def to_rgb(frame) -> np.ndarray:
    """``uint8 (H, W, 3)`` RGB of a decoded ``av.VideoFrame``: ``to_ndarray(format="rgb24")``
    on one thread — FFmpeg's scaler otherwise starts a thread pool for every frame (3× the
    time per frame, measured), and a loader worker is one core anyway. Same pixels."""
    try:
        return frame.to_ndarray(format="rgb24", threads=1)
    except TypeError:  # PyAV < 17 has no ``threads``: its scaler is single-threaded there
        return frame.to_ndarray(format="rgb24")


class PyAVBackend:
    """Decode with PyAV, seeking to the key frame before the first requested frame and
    decoding forward only as far as the last one.

    ``time_limit`` (seconds) bounds one ``decode`` call; ``threads`` sets FFmpeg's decoder
    threads (1 suits data-loader workers, which already run in parallel); ``skip_nonref``
    lets the decoder drop unwanted frames nothing refers to (same frames, less work).
    ``decode`` takes the frames to decode or a function that picks them from the file's
    frame count (``opens_once``).
    """

    name = "pyav"
    opens_once = True

    def __init__(
        self, time_limit: float = 30.0, threads: int = 1, skip_nonref: bool = True
    ) -> None:
        self.time_limit, self.threads, self.skip_nonref = time_limit, threads, skip_nonref

    def _open(self, path: str):
        import av

        source = open_source(path)
        try:
            container = av.open(source, timeout=self.time_limit)
        except av.error.ExitError:  # FFmpeg's I/O was interrupted by the time limit
            raise DecodeError(path, f"opening took longer than {self.time_limit:g} s") from None
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
            raise DecodeError(path, f"cannot open: {first_line(err)}") from None
        if not container.streams.video:
            container.close()
            raise DecodeError(path, "no video stream")
        return container

    def num_frames(self, path: str) -> int:
        with self._open(path) as container:
            return self._count(container, path)

    def _count(self, container, path: str) -> int:
        """The frame count of an open container: from its header, else from its duration,
        else by counting packets (demuxing is cheap, no decoding)."""
        import av

        stream = container.streams.video[0]
        if stream.frames > 0:
            return int(stream.frames)
        rate = stream.average_rate or stream.guessed_rate
        if stream.duration and rate:
            return max(1, round(float(stream.duration * stream.time_base * rate)))
        try:
            count = sum(1 for p in container.demux(stream) if p.size)
        except av.error.FFmpegError as err:
            raise DecodeError(path, f"cannot read: {first_line(err)}") from None
        if count == 0:
            raise DecodeError(path, "no video frames")
        return count

    def frame_size(self, path: str) -> tuple[int, int]:
        """``(height, width)`` of the decoded frames, from the stream's header."""
        with self._open(path) as container:
            return self._size(container, path)

    def _size(self, container, path: str) -> tuple[int, int]:
        context = container.streams.video[0].codec_context
        if context.height < 1 or context.width < 1:
            raise DecodeError(path, "the video stream states no frame size")
        return context.height, context.width

    def header(self, path: str) -> tuple[int, tuple[int, int]]:
        """``(num_frames, (height, width))`` from one open (what a clip's plan needs)."""
        with self._open(path) as container:
            return self._count(container, path), self._size(container, path)

    def _positions(self, container, path: str, frame_indices: Positions) -> Sequence[int]:
        """The positions to decode from an open container (``Positions`` resolved), checked."""
        if callable(frame_indices):
            frame_indices = frame_indices(self._count(container, path))
        check_indices(path, frame_indices)
        return frame_indices

    def decode(self, path: str, frame_indices: Positions, keep=None) -> np.ndarray:
        """``uint8 (T, H, W, 3)`` RGB frames at ``frame_indices`` — or at the positions that
        ``frame_indices(num_frames)`` picks from the file's frame count, read from the same
        open (``opens_once``: a clip drawn from a file's length costs one open, not one to
        count and one to decode). ``keep(position, frame)`` also sees each decoded
        ``av.VideoFrame`` that is kept (e.g. for its side data)."""
        return self._decode(path, frame_indices, keep)[0]

    def _decode(
        self, path: str, frame_indices: Positions, keep=None
    ) -> tuple[np.ndarray, Sequence[int]]:
        """``decode``'s frames and the positions they are of."""
        import av

        deadline = time.monotonic() + self.time_limit
        with self._open(path) as container:
            frame_indices = self._positions(container, path, frame_indices)
            wanted = set(frame_indices)
            stream = container.streams.video[0]
            stream.thread_count = self.threads
            if keep is not None:  # the codec's motion vectors, as frame side data
                stream.codec_context.options = {"flags2": "+export_mvs"}
            rate = stream.average_rate or stream.guessed_rate
            start = stream.start_time or 0
            try:
                frames = None
                if rate is not None and min(wanted) > 0:
                    frames = self._scan(
                        container, stream, rate, start, wanted, deadline, path, True, keep
                    )
                if frames is None:  # no seek needed, or the seek could not be used
                    frames = self._scan(
                        container, stream, rate, start, wanted, deadline, path, False, keep
                    )
            except av.error.FFmpegError as err:
                raise DecodeError(path, f"corrupt data: {first_line(err)}") from None
        return pick_frames(path, frames, frame_indices), frame_indices

    def decode_motion(self, path: str, frame_indices: Positions) -> tuple[np.ndarray, np.ndarray]:
        """``(uint8 (T, H, W, 3) frames, float32 (T, H, W) motion)``: the frames (as
        ``decode``) and, per pixel, the displacement of the codec blocks that cover it
        (``data.motion``); frames without motion vectors (intra frames, codecs that export
        none) have zero motion."""
        from sigma_video.data.motion import motion_magnitude

        motions: dict[int, np.ndarray] = {}

        def keep(position: int, frame) -> None:
            vectors = frame.side_data.get("MOTION_VECTORS")
            array = vectors.to_ndarray() if vectors is not None else None
            motions[position] = motion_magnitude(array, frame.height, frame.width)

        frames, positions = self._decode(path, frame_indices, keep)
        return frames, pick_frames(path, motions, positions)

    def _scan(self, container, stream, rate, start, wanted, deadline, path, seek, keep=None):
        """Decode forward from the key frame before the first wanted frame (``seek``) or from
        the beginning, keeping the wanted frames. Returns None when a seek cannot be used
        (no timestamps, or it landed past the first wanted frame).

        With ``skip_nonref`` a packet whose timestamp says it is not wanted is decoded with
        ``skip_frame=NONREF``: the decoder drops it if no later frame refers to it (x264's
        non-reference B-frames, about half of a K400 file's frames) — the kept frames are
        bit-identical, since nothing refers to what was dropped."""
        first, last = min(wanted), max(wanted)
        if seek:
            target = start + int(Fraction(first) / Fraction(rate) / stream.time_base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
        else:
            container.seek(start, stream=stream, backward=True, any_frame=False)
        context = stream.codec_context
        frames: dict[int, np.ndarray] = {}
        position = -1
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                raise DecodeError(path, f"decoding took longer than {self.time_limit:g} s")
            # (a file whose packets carry timestamps gives its frames timestamps, so the
            # frame counting below never runs after a skip)
            skip = self.skip_nonref and rate is not None and packet.pts is not None
            if skip:
                at = round(float((packet.pts - start) * stream.time_base * rate))
                skip = at not in wanted
            context.skip_frame = "NONREF" if skip else "DEFAULT"
            for frame in context.decode(packet):
                if frame.pts is not None and rate is not None:
                    position = round(float((frame.pts - start) * stream.time_base * rate))
                elif seek:
                    return None
                else:
                    position += 1  # no timestamps: count frames from the start
                if seek and not frames and position > first:
                    return None
                if position in wanted:
                    frames[position] = to_rgb(frame)
                    if keep is not None:
                        keep(position, frame)
                if position >= last:
                    return frames
        return frames


class TorchCodecBackend:
    """Decode with torchcodec (optional), on the CPU or — ``device="cuda"`` — with the GPU's
    hardware decoder (NVDEC): ``decode_tensor`` then returns the frames on the GPU. The
    header questions (``num_frames``, ``frame_size``) are answered on the CPU, so loader
    workers never touch CUDA."""

    name = "torchcodec"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = str(device)

    def _decoder(self, path: str, device: str = "cpu"):
        from torchcodec.decoders import VideoDecoder

        source = open_source(path)
        source = source.getvalue() if isinstance(source, io.BytesIO) else source
        try:
            return VideoDecoder(
                source, seek_mode="approximate", dimension_order="NHWC", device=device
            )
        except (RuntimeError, ValueError) as err:
            raise DecodeError(path, f"cannot open: {first_line(err)}") from None

    def num_frames(self, path: str) -> int:
        return len(self._decoder(path))

    def frame_size(self, path: str) -> tuple[int, int]:
        metadata = self._decoder(path).metadata
        if not metadata.height or not metadata.width:
            raise DecodeError(path, "the video stream states no frame size")
        return metadata.height, metadata.width

    def decode_tensor(self, path: str, frame_indices: Sequence[int]) -> torch.Tensor:
        """``uint8 (T, H, W, 3)`` on this backend's device."""
        check_indices(path, frame_indices)
        decoder = self._decoder(path, self.device)
        indices = [min(i, len(decoder) - 1) for i in frame_indices]
        try:
            return decoder.get_frames_at(indices=indices).data
        except (RuntimeError, IndexError, ValueError) as err:
            raise DecodeError(path, f"corrupt data: {first_line(err)}") from None

    def decode(self, path: str, frame_indices: Sequence[int]) -> np.ndarray:
        return self.decode_tensor(path, frame_indices).cpu().numpy()


class DecordBackend:
    """Decode with decord (optional; unmaintained, kept for comparison)."""

    name = "decord"

    def _reader(self, path: str):
        import decord

        source = open_source(path)
        try:
            return decord.VideoReader(source, num_threads=1)
        except (RuntimeError, decord.DECORDError) as err:
            raise DecodeError(path, f"cannot open: {first_line(err)}") from None

    def num_frames(self, path: str) -> int:
        return len(self._reader(path))

    def frame_size(self, path: str) -> tuple[int, int]:
        height, width, _ = self._reader(path)[0].shape
        return height, width

    def decode(self, path: str, frame_indices: Sequence[int]) -> np.ndarray:
        check_indices(path, frame_indices)
        reader = self._reader(path)
        indices = [min(i, len(reader) - 1) for i in frame_indices]
        return reader.get_batch(indices).asnumpy()


class FrameFolder:
    """A folder of frame images (``.jpg``/``.png``), sorted by file name."""

    name = "frames"

    def _files(self, path: str) -> list[Path]:
        if not os.path.isdir(path):
            raise DecodeError(path, "frame folder not found")
        files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        if not files:
            raise DecodeError(path, "frame folder holds no .jpg/.png images")
        return files

    def num_frames(self, path: str) -> int:
        return len(self._files(path))

    def frame_size(self, path: str) -> tuple[int, int]:
        return _image_size(str(self._files(path)[0]))

    def decode(self, path: str, frame_indices: Sequence[int]) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        check_indices(path, frame_indices)
        files = self._files(path)
        frames = {}
        for index in sorted(set(frame_indices)):
            file = files[min(index, len(files) - 1)]
            try:
                with Image.open(file) as image:
                    frames[index] = np.asarray(image.convert("RGB"))
            except (OSError, UnidentifiedImageError) as err:
                raise DecodeError(str(file), f"unreadable image: {first_line(err)}") from None
        shapes = {f.shape for f in frames.values()}
        if len(shapes) > 1:
            raise DecodeError(path, f"frames of different sizes {sorted(shapes)}")
        return pick_frames(path, frames, frame_indices)


class ImageFile:
    """A still image as a static clip: every requested frame is the image (the image
    datasets of the linear-probe table, e.g. ImageNet, CIFAR-100)."""

    name = "image"

    def num_frames(self, path: str) -> int:
        if not os.path.isfile(path):
            raise DecodeError(path, "image file not found")
        return 1

    def frame_size(self, path: str) -> tuple[int, int]:
        return _image_size(path)

    def decode(self, path: str, frame_indices: Sequence[int]) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        check_indices(path, frame_indices)
        try:
            with Image.open(path) as image:
                frame = np.asarray(image.convert("RGB"))
        except FileNotFoundError:
            raise DecodeError(path, "image file not found") from None
        except (OSError, UnidentifiedImageError) as err:
            raise DecodeError(path, f"unreadable image: {first_line(err)}") from None
        return np.broadcast_to(frame, (len(frame_indices), *frame.shape))


BACKENDS = {"pyav": PyAVBackend, "torchcodec": TorchCodecBackend, "decord": DecordBackend}
_MODULES = {"pyav": "av", "torchcodec": "torchcodec.decoders", "decord": "decord"}


def _importable(module: str) -> bool:
    if importlib.util.find_spec(module.split(".")[0]) is None:
        return False
    try:  # installed is not enough: torchcodec needs FFmpeg's shared libraries
        importlib.import_module(module)
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def available_backends() -> list[str]:
    """Backends that import here, the default first."""
    return [name for name, module in _MODULES.items() if _importable(module)]


def get_backend(
    name: str = "pyav", time_limit: float = 30.0, device: str | torch.device = "cpu"
) -> Backend:
    """A backend instance by name; ValueError naming the installed ones otherwise.
    ``time_limit`` bounds a PyAV decode; ``device`` is where torchcodec decodes."""
    if name not in BACKENDS:
        raise ValueError(f"unknown video backend {name!r}; choose from {sorted(BACKENDS)}")
    if not _importable(_MODULES[name]):
        raise ValueError(
            f"video backend {name!r} is not installed or does not load; "
            f"available: {available_backends()}"
        )
    if name == "pyav":
        return PyAVBackend(time_limit=time_limit)
    if name == "torchcodec":
        return TorchCodecBackend(device=device)
    return DecordBackend()
