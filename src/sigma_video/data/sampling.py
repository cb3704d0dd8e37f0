"""Which frames of a video make a clip: pure functions of the video length and a seed.

All functions return frame indices (``list[int]``) into a video of ``num_video_frames``
frames. A clip of ``num_frames`` frames with temporal ``stride`` spans
``(num_frames - 1) · stride + 1`` frames. Videos shorter than that are padded:

- ``pad="repeat"`` (default, like the reference loader): indices past the end repeat the
  last frame, e.g. 5 frames, 4 × stride 2 -> ``[0, 2, 4, 4]``;
- ``pad="loop"``: indices wrap around to the start, e.g. ``[0, 2, 4, 1]``.
"""

from __future__ import annotations

import random

PAD_MODES = ("repeat", "loop")


def clip_span(num_frames: int, stride: int) -> int:
    """Frames covered by a clip from its first to its last sampled frame."""
    return (num_frames - 1) * stride + 1


def clip_indices(
    num_video_frames: int, num_frames: int, stride: int, start: int = 0, pad: str = "repeat"
) -> list[int]:
    """``num_frames`` indices ``start, start + stride, …``, padded past the video's end."""
    _check(num_video_frames, num_frames, stride, pad)
    out = []
    for i in range(num_frames):
        index = start + i * stride
        if index >= num_video_frames:
            index = num_video_frames - 1 if pad == "repeat" else index % num_video_frames
        out.append(index)
    return out


def random_clip_indices(
    num_video_frames: int,
    num_frames: int,
    stride: int,
    rng: random.Random,
    pad: str = "repeat",
) -> list[int]:
    """Pretraining sampling: a clip at a uniformly random start that fits in the video."""
    _check(num_video_frames, num_frames, stride, pad)
    latest = max(0, num_video_frames - clip_span(num_frames, stride))
    return clip_indices(num_video_frames, num_frames, stride, rng.randint(0, latest), pad)


def uniform_clip_indices(
    num_video_frames: int, num_frames: int, stride: int, num_clips: int, pad: str = "repeat"
) -> list[list[int]]:
    """Evaluation sampling: ``num_clips`` clips with evenly spaced starts, first to last."""
    _check(num_video_frames, num_frames, stride, pad)
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    latest = max(0, num_video_frames - clip_span(num_frames, stride))
    if num_clips == 1:
        starts = [latest // 2]
    else:
        starts = [round(i * latest / (num_clips - 1)) for i in range(num_clips)]
    return [clip_indices(num_video_frames, num_frames, stride, s, pad) for s in starts]


def segment_indices(
    num_video_frames: int,
    num_segments: int,
    rng: random.Random | None = None,
    position: float = 0.5,
) -> list[int]:
    """TSN sampling (SSv2 fine-tuning): one frame from each of ``num_segments`` equal parts.

    With ``rng`` a random frame per segment (training); without it the frame at ``position``
    (a fraction in [0, 1)) of each segment — 0.5 is the middle; clip ``j`` of ``C`` test
    clips uses ``(j + 0.5) / C``. Shorter videos repeat frames; every index is valid.
    """
    if num_video_frames < 1 or num_segments < 1:
        raise ValueError(
            f"need num_video_frames >= 1 and num_segments >= 1, got "
            f"{num_video_frames}, {num_segments}"
        )
    if not 0.0 <= position < 1.0:
        raise ValueError(f"position must be in [0, 1), got {position}")
    length = num_video_frames / num_segments
    out = []
    for i in range(num_segments):
        lo = int(i * length)
        hi = max(lo, int((i + 1) * length) - 1)  # inclusive end of the segment
        index = rng.randint(lo, hi) if rng is not None else lo + int(position * (hi - lo + 1))
        out.append(min(index, num_video_frames - 1))
    return out


def _check(num_video_frames: int, num_frames: int, stride: int, pad: str) -> None:
    if num_video_frames < 1:
        raise ValueError(f"video has no frames (num_video_frames={num_video_frames})")
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames and stride must be >= 1, got {num_frames}, {stride}")
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
