"""Decoding in the training process: the loader plans the clips, the step decodes them.

With ``data.decode_in = "step"`` the loader workers decode nothing: each sample is a
``ClipPlan`` (the file, the frame positions, each view's crop box and flip) drawn from the
sample's RNG in the same order as the loader's own decode, with its mask. ``StepDecoder``
then decodes the planned frames in the training process — on the GPU with
``data.backend = "torchcodec"`` (NVDEC), where CPU cores cannot feed the step
(BENCHMARKS.md, "The loader's budget per CPU core") — and crops and resizes them there.
With the same backend on the CPU the views are the loader's, bit for bit (tested); on a
CUDA device the resize runs in float32 and rounds (within one grey level of the CPU's).

A file that fails here cannot be replaced by another sample (the loader has moved on): its
views are filled with the batch's first good sample and it is reported in ``skipped`` like
a loader replacement, so ``SkipCounter`` still counts and limits bad files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from sigma_video.data.decode import Backend, DecodeError, FrameFolder, ImageFile, decode_tensor
from sigma_video.data.skips import DataError
from sigma_video.data.transforms import Box, crop_resize
from sigma_video.masks.builder import loader_reads


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


def check_step_decode(
    mask_kind: str | None, flow_on_device: bool = False, randaugment: bool = False
) -> None:
    """Decoding in the training step leaves the loader no pixels: refuse what needs them
    (RandAugment; masks that read the clip's motion in the loader)."""
    if randaugment:
        raise ValueError("decoding in the step does not do RandAugment (it needs the pixels)")
    reads = None if mask_kind is None else loader_reads(mask_kind, flow_on_device)
    if reads == "codec":
        raise ValueError(
            f"mask.kind={mask_kind} reads the codec's motion vectors while decoding in the "
            "loader: use data.decode_in=loader"
        )
    if reads == "flow":
        raise ValueError(
            f"mask.kind={mask_kind} with a CPU flow source computes the flow in the loader: "
            "use mask.flow.source=raft (on the device) or data.decode_in=loader"
        )


class StepDecoder:
    """Turns a batch's ``plans`` into ``video`` ``uint8 (B·num_sample, 3, T, S, S)`` on
    ``device``, decoding video files with ``backend`` (frame folders and images with
    Pillow, then copied)."""

    def __init__(self, backend: Backend, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.sources: dict[str, Backend] = {"frames": FrameFolder(), "image": ImageFile()}
        self.backend = backend

    def views(self, plan: ClipPlan) -> torch.Tensor:
        """The plan's views ``uint8 (num_sample, 3, T, S, S)`` (raises ``DecodeError``)."""
        source = self.sources.get(plan.source, self.backend)
        frames = decode_tensor(source, plan.path, plan.frames, self.device)
        if tuple(frames.shape[1:3]) != plan.frame_size:
            height, width = plan.frame_size
            raise DecodeError(
                plan.path,
                f"frames decode at {frames.shape[1]}×{frames.shape[2]}, the header said "
                f"{height}×{width}",
            )
        return torch.stack([crop_resize(frames, box, plan.size, flip) for box, flip in plan.views])

    def __call__(self, batch: dict) -> dict:
        """The batch with ``video`` filled in; files that failed are in ``skipped`` and
        their views are copies of the first good sample's."""
        views, skipped = [], list(batch["skipped"])
        for plan in batch["plans"]:
            try:
                views.append(self.views(plan))
            except DecodeError as err:
                skipped.append((err.path, err.reason))
                views.append(None)
        good = next((v for v in views if v is not None), None)
        if good is None:
            first = "; ".join(f"{p}: {r}" for p, r in skipped[-3:])
            raise DataError(f"no sample of a batch could be decoded, e.g. {first}")
        batch = dict(batch)
        batch["video"] = torch.cat([good if v is None else v for v in views])
        batch["skipped"] = skipped
        return batch


def decoded_in_step(
    batches: Iterable[dict], decoder: StepDecoder, prefetch: bool = True
) -> Iterator[dict]:
    """The loader's batches with their planned clips decoded. With ``prefetch`` the next
    batch is decoded on a helper thread while the caller trains on this one (the decoders
    release the GIL); the time the caller still waits counts as the step's data wait."""
    if not prefetch:
        for batch in batches:
            yield decoder(batch)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="step-decode") as pool:
        pending = None
        for batch in batches:
            following = pool.submit(decoder, batch)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()
