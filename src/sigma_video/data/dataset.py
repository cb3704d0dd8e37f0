"""Map-style training clip datasets that never crash a run on a bad file.

``VideoClips[i]`` decodes the frames one clip needs and returns ``num_sample`` augmented
views of them (repeated augmentation: one decode, several crops). A sample that cannot be
decoded is logged once, replaced by another (seeded) sample and reported in the returned
``skipped`` list, so the main process can count bad files across workers
(``data.skips.SkipCounter``) and stop when too large a share of the data is bad. With a
``MaskConfig`` the sample's masks are attached to it (``masks.attach``) from what its views
bring: their frames and, for codec-guided masks, their cut of the codec's motion.

Randomness is a pure function of ``(seed, epoch, index, attempt)``: the same sample gets the
same frames, crops and masks whatever worker loads it, which makes runs reproducible and
resumable.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.decode import (
    Backend,
    DecodeError,
    FrameFolder,
    ImageFile,
    Positions,
    get_backend,
)
from sigma_video.data.mix import record_at
from sigma_video.data.randaugment import RandAugment, randaugment_clip, sample_ops
from sigma_video.data.sampling import PAD_MODES, random_clip_indices, segment_indices
from sigma_video.data.skips import DataError
from sigma_video.data.step_decode import ClipPlan, check_step_decode
from sigma_video.data.transforms import (
    MULTISCALE_SCALES,
    Box,
    crop_resize,
    crop_resize_map,
    multiscale_crop_box,
    random_resized_crop_box,
    spatial_crop_boxes,
)
from sigma_video.masks.builder import MaskConfig, build_loader_masks

logger = logging.getLogger(__name__)

CROPS = ("multiscale", "random_resized", "center")
SAMPLINGS = ("stride", "segments")
DECODE_IN = ("loader", "step")  # where the frames are decoded (``data.step_decode``)


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


def sample_rng(seed: int, epoch: int, index: int, attempt: int = 0) -> random.Random:
    """The RNG of one sample: a pure function of its coordinates."""
    return random.Random(f"{seed}/{epoch}/{index}/{attempt}")


@dataclass(frozen=True)
class Views:
    """One sample's views as cut from one decode.

    ``video``: ``uint8 (V, 3, T, S, S)``, augmented (RandAugment) when configured;
    ``frames``: the same views as cut, before any augmentation (``video`` itself when none);
    ``motion``: each view's cut of the codec's motion ``float32 (V, T, S, S)`` when asked
    for and the file has any, else None.
    """

    video: Tensor
    frames: Tensor
    motion: Tensor | None = None


class VideoClips(Dataset):
    """Training clips from a list of records.

    Item ``i`` (or ``(i, epoch)``) is a dict: ``video`` ``uint8 (num_sample, 3, T, S, S)``,
    ``label`` (int, -1 if unlabeled), ``index`` (the sample actually used), ``skipped``
    (``[(path, reason)]`` of bad samples replaced on the way), ``mask`` (a ``TokenMask`` of
    the ``num_sample`` views when ``mask`` is configured, else None), ``without_motion``
    (codec-guided masks that fell back to tube masks) and, for masks made on the device,
    ``mask_seed`` (one per view) — drawn from the sample's own RNG after its clip, so masks
    too are reproducible whichever worker makes them (``masks.attach``).

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
        self.records = records if isinstance(records, Sequence) else list(records)
        self.clip = clip or ClipConfig()
        self.decode_in = decode_in
        if decode_in == "step":
            check_step_decode(
                mask.kind if mask else None, mask is not None and mask.on_device, self.augments
            )
        self.backend = (
            get_backend(backend, time_limit=time_limit) if isinstance(backend, str) else backend
        )
        self.frames, self.images = FrameFolder(), ImageFile()
        self.seed, self.max_retries, self.epoch = seed, max_retries, 0
        self.mask = mask
        self.masks = None if mask is None else build_loader_masks(mask)
        self._lengths: dict[str, int] = {}
        self._sizes: dict[str, tuple[int, int]] = {}
        self._logged: set[str] = set()
        self._no_motion: set[str] = set()

    def __len__(self) -> int:
        return len(self.records)

    @property
    def augments(self) -> bool:
        """Each view goes through RandAugment."""
        return self.clip.randaugment is not None and bool(self.clip.randaugment.ops)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        skipped: list[tuple[str, str]] = []
        current = index
        for attempt in range(self.max_retries + 1):
            rng = sample_rng(self.seed, epoch, current, attempt)
            views, plan = None, None
            try:
                record = record_at(self.records, current, epoch)
                if self.decode_in == "step":
                    plan = self.plan(record, rng)
                else:
                    views = self.cut(record, rng)
            except DecodeError as err:
                self._log_once(err)
                skipped.append((err.path, err.reason))
                current = rng.randrange(len(self.records))
                continue
            item = {
                "video": None if views is None else views.video,
                "label": record.label,
                "index": current,
                "skipped": skipped,
                "mask": None,
                "without_motion": False,
            }
            if plan is not None:
                item["plan"] = plan
            if self.masks is not None:  # after the clip's draws of ``rng``
                count = len(plan.views) if plan is not None else len(views.video)
                frames, motion = (None, None) if views is None else (views.frames, views.motion)
                item.update(self.masks(rng, count, frames, motion))
            return item
        first = "; ".join(f"{p}: {r}" for p, r in skipped[:3])
        raise DataError(f"{len(skipped)} samples in a row could not be decoded, e.g. {first}")

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

    def clip_indices(self, record: VideoRecord, rng: random.Random) -> Positions:
        """The clip's frame indices, drawn from ``rng`` — or, for a video whose length
        neither its record nor this process knows yet and a backend that ``opens_once``,
        the function that draws them from the length the decoder reads: one open of the
        file per sample instead of one to count its frames and one to decode (the same
        draws, so the same clip)."""
        source = self.source(record)
        if (
            record.num_frames is not None
            or record.path in self._lengths
            or not getattr(source, "opens_once", False)
        ):
            return self.frame_indices(record, rng)

        def draw(length: int) -> list[int]:
            self._lengths[record.path] = length
            return file_positions(record, self.frame_indices(record, rng))

        return draw

    def decode(self, record: VideoRecord, indices: Positions) -> Tensor:
        """``uint8 (T, H, W, 3)`` frames of a record (``indices`` as ``clip_indices``)."""
        at = indices if callable(indices) else file_positions(record, indices)
        frames = self.source(record).decode(record.path, at)
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
        """What ``cut`` would decode and cut, without decoding (``decode_in="step"``). A
        video new to this process is opened once for both its length and frame size."""
        source = self.source(record)
        unknown = record.num_frames is None and record.path not in self._lengths
        if unknown and record.path not in self._sizes and hasattr(source, "header"):
            self._lengths[record.path], self._sizes[record.path] = source.header(record.path)
        indices = self.frame_indices(record, rng)
        height, width = self.frame_size(record)
        return ClipPlan(
            path=record.path,
            source=source.name,
            frames=tuple(file_positions(record, indices)),
            frame_size=(height, width),
            size=self.clip.size,
            views=tuple(self.view_draws(height, width, rng)),
        )

    def load(self, record: VideoRecord, rng: random.Random) -> Tensor:
        """Decode once, crop ``num_sample`` times: ``uint8 (num_sample, 3, T, S, S)``."""
        return self.cut(record, rng).video

    def cut(self, record: VideoRecord, rng: random.Random) -> Views:
        """Decode once (with the codec's motion when the masks read it), cut ``num_sample``
        views and their motion maps, augment each view."""
        indices = self.clip_indices(record, rng)
        motion = None
        if self.masks is not None and self.masks.reads_codec:
            frames, motion = self.decode_motion(record, indices)
        else:
            frames = self.decode(record, indices)
        _, height, width, _ = frames.shape
        c = self.clip
        cuts, views, motions = [], [], []
        for box, flip in self.view_draws(height, width, rng):
            view = crop_resize(frames, box, c.size, flip=flip)
            if motion is not None:
                motions.append(crop_resize_map(motion, box, c.size, flip))
            cuts.append(view)
            if self.augments:
                draws = sample_ops(c.randaugment, rng)  # one draw per view, all frames alike
                clip = randaugment_clip(view.permute(1, 2, 3, 0).numpy(), draws)
                view = torch.from_numpy(clip).permute(3, 0, 1, 2).contiguous()
            views.append(view)
        video = torch.stack(views)
        return Views(
            video=video,
            frames=torch.stack(cuts) if self.augments else video,
            motion=torch.stack(motions) if motion is not None else None,
        )

    def decode_motion(
        self, record: VideoRecord, indices: Positions
    ) -> tuple[Tensor, Tensor | None]:
        """Frames and the codec's per-pixel motion ``float32 (T, H, W)``; None (one warning
        per reason and process) when the source has no motion vectors to give or they are
        all zero."""
        source = self.source(record)
        if not hasattr(source, "decode_motion"):
            self._log_no_motion(record.path, "its source exports no motion vectors")
            return self.decode(record, indices), None
        at = indices if callable(indices) else file_positions(record, indices)
        frames, motion = source.decode_motion(record.path, at)
        video = torch.from_numpy(np.ascontiguousarray(frames))
        if not motion.any():
            self._log_no_motion(record.path, "no motion vectors (intra-only or static)")
            return video, None
        return video, torch.from_numpy(motion)

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


def file_positions(record: VideoRecord, indices: Sequence[int]) -> list[int]:
    """Clip frame indices -> positions in the file (a record may start inside a video)."""
    offset = 0 if record.is_frames else record.start
    return [offset + i for i in indices]
