import random

import pytest
import torch

from sigma_video.masks.tube import TubeMasks, tube_mask


def test_reference_counts_at_224():
    mask = tube_mask(3, (8, 14, 14), 0.9, generator=torch.Generator().manual_seed(0))
    assert mask.masked.shape == (3, 1408) and mask.visible.shape == (3, 160)
    assert mask.masked.dtype == torch.int64
    assert TubeMasks((8, 14, 14), 0.9).num_masked == 1408


@pytest.mark.parametrize("grid", [(8, 14, 14), (4, 4, 4), (1, 3, 5)])
@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.9])
def test_tube_mask_partitions_tokens_and_repeats_over_time(grid, ratio):
    t, h, w = grid
    mask = tube_mask(4, grid, ratio, generator=torch.Generator().manual_seed(1))
    per_frame = int(ratio * h * w)
    assert mask.masked.shape == (4, t * per_frame)
    for b in range(4):
        both = torch.cat([mask.visible[b], mask.masked[b]]).sort().values
        assert torch.equal(both, torch.arange(t * h * w))
        assert torch.equal(mask.masked[b], mask.masked[b].sort().values)
        frames = mask.boolean()[b].view(t, h * w)
        assert (frames == frames[0]).all()  # same spatial mask in every time slot
        assert int(frames[0].sum()) == per_frame


def test_masks_differ_across_samples_and_are_reproducible():
    a = tube_mask(8, (2, 14, 14), 0.9, generator=torch.Generator().manual_seed(5))
    b = tube_mask(8, (2, 14, 14), 0.9, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.masked, b.masked)
    assert len({tuple(row.tolist()) for row in a.masked}) == 8


def test_the_generator_draws_one_seed_for_all_views_of_a_sample():
    masks = TubeMasks((2, 4, 4), 0.75)
    rng = random.Random(3)
    mask = masks(rng, 3)
    seed = random.Random(3).getrandbits(62)
    want = tube_mask(3, (2, 4, 4), 0.75, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(mask.masked, want.masked) and torch.equal(mask.visible, want.visible)
    assert rng.getstate() != random.Random(3).getstate()  # the draw moved the sample's rng
