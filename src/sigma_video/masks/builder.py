"""Masks from their settings: one generator per kind (``GENERATORS``) and the builder that
picks where a run's masks are made — in the loader workers with each sample
(``build_loader_masks``) or in the training step on its device (``build_device_masks``:
MGMAE with RAFT flow).

Every generator has one interface, ``generator(rng, views, motion) -> TokenMask``: the
masks of one sample's ``views`` from the sample's ``random.Random`` (after the clip's own
draws) and, for the motion-guided kinds, each view's motion; ``generator.reads`` says which
(None, ``"codec"``: the codec's motion map, ``"flow"``: the optical flow), and
``generator.num_masked`` the masked tokens per clip, known without building a mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sigma_video.flow.sources import FlowSource
from sigma_video.masks.attach import MaskGenerator, SampleMasks
from sigma_video.masks.device import DeviceFlowMasks
from sigma_video.masks.dual import DecoderMasks, check_decoder_ratio, decoded_count
from sigma_video.masks.mgm import MGMMasks
from sigma_video.masks.mgmae import FlowMaskOptions, MGMAEMasks
from sigma_video.masks.random import RandomMasks, random_mask
from sigma_video.masks.token_mask import TokenMask, check_ratio
from sigma_video.masks.tube import TubeMasks, tube_mask

GENERATORS: dict[str, type[MaskGenerator]] = {
    "tube": TubeMasks,
    "random": RandomMasks,
    "mgm": MGMMasks,
    "mgmae": MGMAEMasks,
}
MASK_KINDS = tuple(GENERATORS)
# the kinds that read nothing of the clips, made for a whole batch at once
BATCH_MASKS = {"tube": tube_mask, "random": random_mask}


@dataclass
class MaskSettings:
    """The masks of a pretraining run (``[mask]``); ``MaskConfig`` adds the token grid."""

    kind: str = "tube"
    """`tube`, `random`, `mgm` (hide the tubes the codec's motion vectors say move most),
    `mgmae` (flow-guided, MGMAE)"""
    ratio: float = 0.9
    """share of the tubes hidden"""
    decoder_ratio: float = 0.0
    """share of the hidden tubes the decoder leaves out, chosen by VideoMAE V2's running
    cell (dual masking): 0 (the paper's) decodes them all; 0.25, 0.5 (V2's) or 0.75"""
    flow: FlowMaskOptions = field(default_factory=FlowMaskOptions)

    def __post_init__(self) -> None:
        generator_class(self.kind)
        check_ratio(self.ratio, "mask.ratio")
        check_decoder_ratio(self.decoder_ratio)

    def on(self, grid: tuple[int, int, int]) -> MaskConfig:
        """These masks over the token ``grid`` ``(T, H, W)``."""
        return MaskConfig(grid, self.kind, self.ratio, self.flow, self.decoder_ratio)


@dataclass(frozen=True)
class MaskConfig:
    """The masks made with each sample: ``kind`` (one of ``MASK_KINDS``) over the token
    ``grid`` ``(T, H, W)`` at ``ratio``; ``flow``: MGMAE's settings (``kind="mgmae"``);
    ``decoder_ratio``: the share of the masked tubes the decoder leaves out (0: none)."""

    grid: tuple[int, int, int]
    kind: str = "tube"
    ratio: float = 0.9
    flow: FlowMaskOptions = field(default_factory=FlowMaskOptions)
    decoder_ratio: float = 0.0

    def __post_init__(self) -> None:
        self.num_predicted  # noqa: B018 - checked now, not in a loader worker

    @property
    def num_predicted(self) -> int:
        """The tubes per clip the decoder predicts (all the masked ones without decoder
        masking)."""
        return decoded_count(build_generator(self).num_masked, self.decoder_ratio)

    @property
    def decoder_masks(self) -> DecoderMasks | None:
        """The decoder masking of these masks, or None (off)."""
        return DecoderMasks(self.grid, self.decoder_ratio) if self.decoder_ratio else None

    @property
    def on_device(self) -> bool:
        """The masks are made in the training step on its device (MGMAE with RAFT flow),
        not in the loader."""
        return self.kind == "mgmae" and self.flow.on_device


def generator_class(kind: str) -> type[MaskGenerator]:
    """The generator of mask ``kind``; ValueError for a kind that does not exist."""
    if kind not in GENERATORS:
        raise ValueError(f"mask kind must be one of {list(MASK_KINDS)}, got {kind!r}")
    return GENERATORS[kind]


def build_generator(config: MaskConfig) -> MaskGenerator:
    """The generator of ``config.kind`` (its grid and ratio checked)."""
    cls = generator_class(config.kind)
    if cls is MGMAEMasks:
        return MGMAEMasks(config.grid, config.ratio, config.flow)
    return cls(config.grid, config.ratio)


def loader_reads(kind: str, flow_on_device: bool = False) -> str | None:
    """What masks of ``kind`` read of each clip in the loader: ``"codec"``, ``"flow"`` or
    None (nothing, or MGMAE with ``flow_on_device``: its flow is computed in the step)."""
    reads = generator_class(kind).reads
    return None if reads == "flow" and flow_on_device else reads


def build_loader_masks(config: MaskConfig) -> SampleMasks:
    """What the loader attaches to each sample: its masks, or for masks made on the device
    (``config.on_device``) the views' seeds they are made from."""
    generator = build_generator(config)
    # a clip without codec motion (a frame folder, an intra-only file) gets tube masks of
    # the same count, counted in the batch as ``without_motion``
    fallback = TubeMasks(config.grid, config.ratio) if generator.reads == "codec" else None
    return SampleMasks(
        generator, fallback, config.flow, deferred=config.on_device, decoder=config.decoder_masks
    )


def build_device_masks(
    config: MaskConfig, device: torch.device, source: FlowSource | None = None
) -> DeviceFlowMasks | None:
    """The masks the training step makes on ``device`` (``config.on_device``: MGMAE's flow
    from RAFT, or from ``source``), else None: the batch brings the loader's."""
    if not config.on_device:
        return None
    generator = build_generator(config)
    return DeviceFlowMasks(generator, device, source, config.decoder_masks)  # type: ignore[arg-type]


def batch_mask(
    kind: str,
    batch_size: int,
    grid: tuple[int, int, int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> TokenMask:
    """Masks of ``kind`` for a batch of ``batch_size`` clips, drawn from ``generator`` on
    ``device``: the kinds that read nothing of the clips (``tube``, ``random``); the
    motion-guided kinds raise ValueError (their masks come with each sample)."""
    generator_class(kind)
    if kind not in BATCH_MASKS:
        raise ValueError(
            f"mask kind {kind!r} is made from each clip's motion, with the sample "
            f"(data.dataset.VideoClips); a batch of clips takes {list(BATCH_MASKS)}"
        )
    return BATCH_MASKS[kind](batch_size, grid, ratio, generator=generator, device=device)
