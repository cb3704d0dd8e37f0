"""Every mask kind behind one interface, the builder's choice of where masks are made, and
the errors for a kind that does not exist or cannot be made where it is asked for."""

import random

import pytest
import torch

from sigma_video.flow.sources import DISFlow
from sigma_video.masks.builder import (
    MASK_KINDS,
    MaskConfig,
    batch_mask,
    build_device_masks,
    build_generator,
    build_loader_masks,
    loader_reads,
)
from sigma_video.masks.mgmae import FlowMaskOptions

GRID = (4, 4, 4)  # 8 frames of 16² pixels in 2×4×4 tubes


def motion_of(reads, views):
    """What a generator reads of ``views`` moving clips of 8 frames × 16²."""
    g = torch.Generator().manual_seed(0)
    if reads == "codec":
        return torch.rand(views, 8, 16, 16, generator=g)
    if reads == "flow":
        return [(torch.randn(7, 2, 16, 16, generator=g),) * 2 for _ in range(views)]
    return None


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_every_kind_masks_its_announced_count_and_is_a_function_of_the_rng(kind):
    generator = build_generator(MaskConfig(GRID, kind, 0.75))
    motion = motion_of(generator.reads, 3)
    mask = generator(random.Random(1), 3, motion)
    again = generator(random.Random(1), 3, motion)
    assert mask.masked.shape == (3, generator.num_masked) and mask.num_tokens == 64
    assert torch.equal(mask.masked, again.masked) and torch.equal(mask.visible, again.visible)
    for row in range(3):
        both = torch.cat([mask.visible[row], mask.masked[row]]).sort().values
        assert torch.equal(both, torch.arange(64))
    per_slot = mask.boolean().view(3, 4, 16).sum(-1)
    if kind != "random":  # random masks have a count per clip, not per time slot
        assert (per_slot == generator.masked_per_slot).all()


def test_an_unknown_kind_is_one_line():
    with pytest.raises(ValueError, match=r"unknown|one of"):
        batch_mask("block", 1, (2, 2, 2), 0.5)
    with pytest.raises(ValueError, match=r"mask kind must be one of \['tube'"):
        MaskConfig(GRID, "block")
    with pytest.raises(ValueError, match="mask ratio"):
        MaskConfig(grid=(4, 4, 4), ratio=1.0)


def test_motion_guided_kinds_are_not_made_for_a_batch_of_clips():
    assert batch_mask("random", 2, GRID, 0.5).masked.shape == (2, 32)
    for kind in ("mgm", "mgmae"):
        with pytest.raises(ValueError, match=f"{kind}' is made from each clip's motion"):
            batch_mask(kind, 2, GRID, 0.5)


def test_the_builder_picks_the_loader_or_the_device():
    raft = FlowMaskOptions(source="raft", weights="raft.pth")
    on_device = MaskConfig(GRID, "mgmae", 0.75, raft)
    assert on_device.on_device and not MaskConfig(GRID, "mgmae", 0.75).on_device
    assert build_device_masks(MaskConfig(GRID, "mgmae", 0.75), torch.device("cpu")) is None
    assert build_device_masks(on_device, torch.device("cpu"), source=DISFlow()) is not None
    loader = build_loader_masks(on_device)(random.Random(0), 2)
    assert loader["mask"] is None and len(loader["mask_seed"]) == 2  # made in the step
    assert (loader_reads("mgmae"), loader_reads("mgmae", True), loader_reads("mgm")) == (
        "flow",
        None,
        "codec",
    )


def test_codec_masks_of_a_clip_without_motion_are_tube_masks_and_say_so():
    masks = build_loader_masks(MaskConfig(GRID, "mgm", 0.75))
    fields = masks(random.Random(0), 2, motion=None)
    tube = build_generator(MaskConfig(GRID, "tube", 0.75))(random.Random(0), 2)
    assert fields["without_motion"] and torch.equal(fields["mask"].masked, tube.masked)
    moving = masks(random.Random(0), 2, motion=motion_of("codec", 2))
    assert "without_motion" not in moving and not torch.equal(moving["mask"].masked, tube.masked)
