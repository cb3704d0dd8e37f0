"""Map-style clip datasets that never crash a run on a bad file.

``VideoClips[i]`` decodes the frames one clip needs and returns ``num_sample`` augmented
views of them (repeated augmentation: one decode, several crops). A sample that cannot be
decoded is logged once, replaced by another (seeded) sample and reported in the returned
``skipped`` list, so the main process can count bad files across workers (``SkipCounter``)
and stop when too large a share of the data is bad.

Randomness is a pure function of ``(seed, epoch, index, attempt)``: the same sample gets the
same frames and crops whatever worker loads it, which makes runs reproducible and resumable.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.decode import Backend, DecodeError, FrameFolder, ImageFile, get_backend
from sigma_video.data.motion import motion_guided_mask, tube_motion
from sigma_video.data.randaugment import RandAugment, randaugment_clip, sample_ops
from sigma_video.data.sampling import (
    PAD_MODES,
    random_clip_indices,
    segment_indices,
    uniform_clip_indices,
)
from sigma_video.data.transforms import (
    MULTISCALE_SCALES,
    Box,
    crop_resize,
    multiscale_crop_box,
    random_resized_crop_box,
    spatial_crop_boxes,
)
from sigma_video.flow.guided import FlowMaskOptions, flow_guided_mask
from sigma_video.flow.sources import make_flow_source
from sigma_video.masking import TokenMask, make_mask

logger = logging.getLogger(__name__)

CROPS = ("multiscale", "random_resized", "center")
SAMPLINGS = ("stride", "segments")
DECODE_IN = ("loader", "step")  # where the frames are decoded (``data.step_decode``)


class DataError(RuntimeError):
    """Too many bad samples: the data, not one file, is the problem."""


@dataclass
class ClipConfig:
    """How a training clip is sampled and augmented (defaults: the K400 pretraining recipe).

    ``sampling="stride"`` takes ``num_frames`` frames ``stride`` apart from a random start
    (short videos padded per ``pad``); ``"segments"`` is TSN sampling (SSv2 fine-tuning).
    ``crop``: ``multiscale`` (reference pretraining), ``random_resized`` or ``center``.
    ``flip`` is off by default: it changes the label of direction classes (SSv2).
    ``randaugment`` (fine-tuning) is applied to each cropped view, the same to all frames.
    """

    num_frames: int = 16
    stride: int = 4
    size: int = 224
    sampling: str = "stride"
    pad: str = "repeat"
    crop: str = "multiscale"
    scales: tuple[float, ...] = MULTISCALE_SCALES
    flip: bool = False
    num_sample: int = 1
    randaugment: RandAugment | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("sampling", SAMPLINGS), ("pad", PAD_MODES), ("crop", CROPS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("num_frames", "stride", "size", "num_sample"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class MaskConfig:
    """The masks made with each sample: ``kind`` over the token ``grid`` at ``ratio``;
    ``flow``: MGMAE's settings (``kind="mgmae"``)."""

    grid: tuple[int, int, int]
    kind: str = "tube"
    ratio: float = 0.9
    flow: FlowMaskOptions = field(default_factory=FlowMaskOptions)

    def __post_init__(self) -> None:
        make_mask(self.kind, 1, self.grid, self.ratio)  # validate now, not in a worker


def sample_rng(seed: int, epoch: int, index: int, attempt: int = 0) -> random.Random:
    """The RNG of one sample: a pure function of its coordinates."""
    return random.Random(f"{seed}/{epoch}/{index}/{attempt}")


class VideoClips(Dataset):
    """Training clips from a list of records.

    Item ``i`` (or ``(i, epoch)``) is a dict: ``video`` ``uint8 (num_sample, 3, T, S, S)``,
    ``label`` (int, -1 if unlabeled), ``index`` (the sample actually used), ``skipped``
    (``[(path, reason)]`` of bad samples replaced on the way) and ``mask`` (a ``TokenMask``
    for the ``num_sample`` views when ``mask`` is configured, else None) — drawn from the
    sample's own RNG, so masks too are reproducible whichever worker makes them.

    ``decode_in="step"``: nothing is decoded here; ``video`` is None and ``plan`` (a
    ``ClipPlan``: frames, crop boxes, flips) says what ``StepDecoder`` makes of the file in
    the training process — the same views, from the same draws of the sample's RNG.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        clip: ClipConfig | None = None,
        backend: str | Backend = "pyav",
        seed: int = 0,
        max_retries: int = 10,
        time_limit: float = 30.0,
        mask: MaskConfig | None = None,
        decode_in: str = "loader",
    ) -> None:
        if not records:
            raise ValueError("dataset has no samples")
        if decode_in not in DECODE_IN:
            raise ValueError(f"decode_in must be one of {DECODE_IN}, got {decode_in!r}")
        self.records = list(records)
        self.clip = clip or ClipConfig()
        self.decode_in = decode_in
        if decode_in == "step":
            randaugment = self.clip.randaugment is not None and bool(self.clip.randaugment.ops)
            flow_on_device = mask is not None and mask.flow.on_device
            check_step_decode(mask.kind if mask else None, flow_on_device, randaugment)
        self.backend = (
            get_backend(backend, time_limit=time_limit) if isinstance(backend, str) else backend
        )
        self.frames, self.images = FrameFolder(), ImageFile()
        self.seed, self.max_retries, self.epoch = seed, max_retries, 0
        self.mask = mask
        self._lengths: dict[str, int] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self._logged: set[str] = set()
        self._no_motion: set[str] = set()
        self._flow_source: Callable | None = None

    def __len__(self) -> int:
        return len(self.records)

    @property
    def wants_motion(self) -> bool:
        """Its masks are made from each clip's codec motion vectors (``mgm``)."""
        return self.mask is not None and self.mask.kind == "mgm"

    @property
    def wants_flow(self) -> bool:
        """Its masks are made from each view's optical flow, here in the loader (``mgmae``
        with a CPU flow source; with RAFT the training step makes them on the device)."""
        m = self.mask
        return m is not None and m.kind == "mgmae" and not m.flow.on_device

    def flow_of(self, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The forward and backward flows ``(T-1, 2, S, S)`` of a view ``uint8 (3, T, S, S)``
        (the source is made in the process that first needs it: loader workers)."""
        if self._flow_source is None:
            self._flow_source = make_flow_source(self.mask.flow)
        return self._flow_source(view.permute(1, 2, 3, 0).numpy())

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        skipped: list[tuple[str, str]] = []
        current = index
        for attempt in range(self.max_retries + 1):
            rng = sample_rng(self.seed, epoch, current, attempt)
            video, plan, motion = None, None, None
            try:
                if self.decode_in == "step":
                    plan = self.plan(self.records[current], rng)
                else:
                    video, motion = self.load_with_motion(self.records[current], rng)
            except DecodeError as err:
                self._log_once(err)
                skipped.append((err.path, err.reason))
                current = rng.randrange(len(self.records))
                continue
            count = len(plan.views) if plan is not None else len(video)
            seeds = None
            if self.mask is not None and self.mask.kind == "mgmae":
                # one seed per view: the loader and the device (RAFT) make the same masks
                seeds = [rng.getrandbits(62) for _ in range(count)]
            item = {
                "video": video,
                "label": self.records[current].label,
                "index": current,
                "skipped": skipped,
                "mask": self.make_mask(count, rng, motion, seeds),
                "without_motion": motion is None and self.wants_motion,
            }
            if plan is not None:
                item["plan"] = plan
            if seeds is not None:
                item["mask_seed"] = seeds
            return item
        first = "; ".join(f"{p}: {r}" for p, r in skipped[:3])
        raise DataError(f"{len(skipped)} samples in a row could not be decoded, e.g. {first}")

    def make_mask(
        self,
        count: int,
        rng: random.Random,
        motion: torch.Tensor | list | None = None,
        seeds: list[int] | None = None,
    ) -> TokenMask | None:
        """The ``count`` views' masks; with ``motion`` ``(count, T', H', W')`` per-tube
        motion, motion-guided ones (``mgm``); with a list of each view's ``(forward,
        backward)`` flows and the views' ``seeds``, flow-guided ones (``mgmae``)."""
        if self.mask is None:
            return None
        m = self.mask
        if isinstance(motion, list):
            return flow_masks(motion, seeds or [], m, self.clip.num_frames, self.clip.size)
        if motion is not None:
            masks = [motion_guided_mask(view, m.ratio, rng) for view in motion]
            return TokenMask(
                visible=torch.cat([x.visible for x in masks]),
                masked=torch.cat([x.masked for x in masks]),
            )
        generator = torch.Generator().manual_seed(rng.getrandbits(62))
        return make_mask(m.kind, count, m.grid, m.ratio, generator=generator)

    def source(self, record: VideoRecord) -> Backend:
        if record.is_frames:
            return self.frames
        return self.images if record.is_image else self.backend

    def num_frames(self, record: VideoRecord) -> int:
        if record.num_frames is not None:
            return record.num_frames
        if record.path not in self._lengths:
            self._lengths[record.path] = self.source(record).num_frames(record.path)
        return max(1, self._lengths[record.path] - record.start)

    def frame_size(self, record: VideoRecord) -> tuple[int, int]:
        """``(height, width)`` of the record's frames, from the header (cached)."""
        if record.path not in self._sizes:
            self._sizes[record.path] = self.source(record).frame_size(record.path)
        return self._sizes[record.path]

    def frame_indices(self, record: VideoRecord, rng: random.Random) -> list[int]:
        n, c = self.num_frames(record), self.clip
        if c.sampling == "segments":
            return segment_indices(n, c.num_frames, rng)
        return random_clip_indices(n, c.num_frames, c.stride, rng, c.pad)

    def decode(self, record: VideoRecord, indices: Sequence[int]) -> torch.Tensor:
        """``uint8 (T, H, W, 3)`` frames of a record."""
        frames = self.source(record).decode(record.path, file_positions(record, indices))
        return torch.from_numpy(np.ascontiguousarray(frames))

    def view_draws(self, height: int, width: int, rng: random.Random) -> Iterator[tuple[Box, bool]]:
        """Each view's ``(crop box, flip)``, drawn lazily: whatever a caller draws between
        two views (RandAugment) keeps its place in the sample's RNG sequence."""
        c = self.clip
        for _ in range(c.num_sample):
            if c.crop == "multiscale":
                box = multiscale_crop_box(height, width, rng, c.size, c.scales)
            elif c.crop == "random_resized":
                box = random_resized_crop_box(height, width, rng)
            else:
                box = spatial_crop_boxes(height, width, 1)[0]
            yield box, c.flip and rng.random() < 0.5

    def plan(self, record: VideoRecord, rng: random.Random) -> ClipPlan:
        """What ``load`` would decode and cut, without decoding (``decode_in="step"``)."""
        indices = self.frame_indices(record, rng)
        height, width = self.frame_size(record)
        return ClipPlan(
            path=record.path,
            source=self.source(record).name,
            frames=tuple(file_positions(record, indices)),
            frame_size=(height, width),
            size=self.clip.size,
            views=tuple(self.view_draws(height, width, rng)),
        )

    def load(self, record: VideoRecord, rng: random.Random) -> torch.Tensor:
        """Decode once, crop ``num_sample`` times: ``uint8 (num_sample, 3, T, S, S)``."""
        return self.load_with_motion(record, rng)[0]

    def load_with_motion(
        self, record: VideoRecord, rng: random.Random
    ) -> tuple[torch.Tensor, torch.Tensor | list | None]:
        """``load``, and for flow-guided masks each view's ``(forward, backward)`` flows,
        for codec-guided ones the per-tube motion of each view
        ``(num_sample, T', H', W')`` (each view's crop applied to the codec's motion), or
        None (other masks, or a source without motion vectors: then tube masks)."""
        indices = self.frame_indices(record, rng)
        motion = None
        if self.wants_motion:
            frames, motion = self.decode_motion(record, indices)
        else:
            frames = self.decode(record, indices)
        _, height, width, _ = frames.shape
        c = self.clip
        views, motions, flows = [], [], []
        for box, flip in self.view_draws(height, width, rng):
            view = crop_resize(frames, box, c.size, flip=flip)
            if motion is not None:
                motions.append(self.view_motion(motion, box, flip))
            if self.wants_flow:
                flows.append(self.flow_of(view))
            if c.randaugment is not None and c.randaugment.ops:
                draws = sample_ops(c.randaugment, rng)  # one draw per view, all frames alike
                clip = randaugment_clip(view.permute(1, 2, 3, 0).numpy(), draws)
                view = torch.from_numpy(clip).permute(3, 0, 1, 2).contiguous()
            views.append(view)
        if flows:
            return torch.stack(views), flows
        return torch.stack(views), torch.stack(motions) if motion is not None else None

    def decode_motion(
        self, record: VideoRecord, indices: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Frames and the codec's per-pixel motion ``float32 (T, H, W)``; None (one warning
        per reason and process) when the source has no motion vectors to give or they are
        all zero."""
        source = self.source(record)
        if not hasattr(source, "decode_motion"):
            self._log_no_motion(record.path, "its source exports no motion vectors")
            return self.decode(record, indices), None
        at = [record.start + i for i in indices]  # a video file (frame folders have no vectors)
        frames, motion = source.decode_motion(record.path, at)
        video = torch.from_numpy(np.ascontiguousarray(frames))
        if not motion.any():
            self._log_no_motion(record.path, "no motion vectors (intra-only or static)")
            return video, None
        return video, torch.from_numpy(motion)

    def view_motion(self, motion: torch.Tensor, box: Box, flip: bool) -> torch.Tensor:
        """One view's per-tube motion: the view's crop of the motion map, resized as the
        frames, mirrored with them, then averaged per tube ``(T', H', W')``."""
        top, left, h, w = box
        size, grid = self.clip.size, self.mask.grid
        x = motion[:, None, top : top + h, left : left + w].float()
        if (h, w) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        if flip:
            x = x.flip(-1)
        return tube_motion(x[:, 0], len(motion) // grid[0], size // grid[1])

    def _log_no_motion(self, path: str, reason: str) -> None:
        """Warn once per reason in this process (each loader worker warns once)."""
        if reason not in self._no_motion:
            self._no_motion.add(reason)
            logger.warning(
                "%s: %s; clips without motion get tube masks (warned once)", path, reason
            )

    def _log_once(self, err: DecodeError) -> None:
        """Log a bad file once: here when decoding in the main process; from a loader
        worker the path travels in the batch (``skipped``) and the main process's
        ``SkipCounter`` logs it, so N workers do not log it N times."""
        if torch.utils.data.get_worker_info() is not None:
            return
        if err.path not in self._logged:
            self._logged.add(err.path)
            logger.warning("skipping bad sample %s", err)


class EvalClips(VideoClips):
    """Evaluation views: ``num_clips`` uniformly spaced clips × ``num_crops`` spatial crops
    (short side resized to ``size``), ``video`` ``uint8 (clips·crops, 3, T, S, S)``.

    A bad sample is not replaced (that would change the test set): it raises
    ``DecodeError``, or with ``skip_bad`` comes back as zeros marked ``bad`` (with the
    reason in ``skipped``) for the evaluation to leave out and count.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        clip: ClipConfig | None = None,
        num_clips: int = 1,
        num_crops: int = 1,
        backend: str | Backend = "pyav",
        time_limit: float = 30.0,
        skip_bad: bool = False,
    ) -> None:
        super().__init__(records, clip, backend, time_limit=time_limit)
        if num_clips < 1 or num_crops < 1:
            raise ValueError(f"num_clips and num_crops must be >= 1, got {num_clips}, {num_crops}")
        self.num_clips, self.num_crops, self.skip_bad = num_clips, num_crops, skip_bad

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index = key[0] if isinstance(key, tuple) else key
        try:
            return self.views(index)
        except DecodeError as err:
            if not self.skip_bad:
                raise
            self._log_once(err)
            c, count = self.clip, self.num_clips * self.num_crops
            video = torch.zeros((count, 3, c.num_frames, c.size, c.size), dtype=torch.uint8)
            label = self.records[index].label
            skipped = [(err.path, err.reason)]
            return {"video": video, "label": label, "index": index, "skipped": skipped, "bad": True}

    def views(self, index: int) -> dict:
        """All views of video ``index`` (raises ``DecodeError``)."""
        record = self.records[index]
        n, c = self.num_frames(record), self.clip
        if c.sampling == "segments":
            positions = [(j + 0.5) / self.num_clips for j in range(self.num_clips)]
            clips = [segment_indices(n, c.num_frames, position=p) for p in positions]
        else:
            clips = uniform_clip_indices(n, c.num_frames, c.stride, self.num_clips, c.pad)
        views = []
        for indices in clips:
            frames = self.decode(record, indices)
            for box in spatial_crop_boxes(frames.shape[1], frames.shape[2], self.num_crops):
                views.append(crop_resize(frames, box, c.size))
        video = torch.stack(views)
        return {"video": video, "label": record.label, "index": index, "skipped": [], "mask": None}


@dataclass(frozen=True)
class ClipPlan:
    """One training sample, planned in a loader worker and decoded in the training process:
    the file (``source``: the backend, ``frames`` or ``image`` that reads it), the frame
    positions in it, the frame size the crop boxes were drawn for, and each view's
    ``(crop box, flip)`` with its output ``size``."""

    path: str
    source: str
    frames: tuple[int, ...]
    frame_size: tuple[int, int]
    size: int
    views: tuple[tuple[Box, bool], ...]


def file_positions(record: VideoRecord, indices: Sequence[int]) -> list[int]:
    """Clip frame indices -> positions in the file (a record may start inside a video)."""
    offset = 0 if record.is_frames else record.start
    return [offset + i for i in indices]


def check_step_decode(
    mask_kind: str | None, flow_on_device: bool = False, randaugment: bool = False
) -> None:
    """Decoding in the training step leaves the loader no pixels: refuse what needs them."""
    if randaugment:
        raise ValueError("decoding in the step does not do RandAugment (it needs the pixels)")
    if mask_kind == "mgm":
        raise ValueError(
            "model.mask=mgm reads the codec's motion vectors while decoding in the loader: "
            "use data.decode_in=loader"
        )
    if mask_kind == "mgmae" and not flow_on_device:
        raise ValueError(
            "model.mask=mgmae with a CPU flow source computes the flow in the loader: use "
            "model.flow=raft (on the device) or data.decode_in=loader"
        )


def flow_masks(
    flows: Sequence[tuple[torch.Tensor, torch.Tensor]],
    seeds: Sequence[int],
    mask: MaskConfig,
    num_frames: int,
    size: int,
) -> TokenMask:
    """MGMAE masks of several views from their ``(forward, backward)`` flows, each seeded by
    its own ``seeds`` entry (so the loader and the device paths agree)."""
    tubelet, patch = num_frames // mask.grid[0], size // mask.grid[1]
    masks = [
        flow_guided_mask(fw, bw, mask.ratio, random.Random(seed), tubelet, patch, mask.flow)
        for (fw, bw), seed in zip(flows, seeds, strict=True)
    ]
    return TokenMask(
        visible=torch.cat([x.visible for x in masks]), masked=torch.cat([x.masked for x in masks])
    )


class SkipCounter:
    """Counts bad samples reported in batches; stops the run when too many are bad.

    Raises ``DataError`` listing the first few paths once more than ``max_fraction`` of the
    ``total`` samples (and at least ``min_count``) have failed.
    """

    def __init__(self, total: int, max_fraction: float = 0.05, min_count: int = 10) -> None:
        self.total, self.max_fraction, self.min_count = total, max_fraction, min_count
        self.bad: dict[str, str] = {}
        self.events = 0

    def update(self, skipped: Sequence[tuple[str, str]]) -> None:
        for path, reason in skipped:
            self.events += 1
            if path not in self.bad:
                self.bad[path] = reason
                logger.warning("skipping bad file %s: %s", path, reason)
        if len(self.bad) > max(self.min_count, self.max_fraction * self.total):
            first = "; ".join(f"{p}: {r}" for p, r in list(self.bad.items())[:5])
            raise DataError(
                f"{len(self.bad)} of {self.total} samples are unreadable (more than "
                f"{self.max_fraction:.0%}); first: {first}"
            )

    def summary(self) -> str:
        return f"{len(self.bad)} bad file(s) skipped ({self.events} replacement(s))"
