import random

import torch

from sigma_video.masks.random import RandomMasks, random_mask


def test_random_mask_counts():
    mask = random_mask(5, (8, 14, 14), 0.9, generator=torch.Generator().manual_seed(2))
    assert mask.masked.shape == (5, int(0.9 * 1568)) and mask.num_tokens == 1568
    frames = mask.boolean().view(5, 8, 196)
    assert not (frames == frames[:, :1]).all()  # not a tube mask
    for b in range(5):
        assert torch.equal(
            torch.cat([mask.visible[b], mask.masked[b]]).sort().values, torch.arange(1568)
        )


def test_the_generator_masks_as_many_as_it_says():
    masks = RandomMasks((8, 14, 14), 0.9)
    assert masks(random.Random(0), 2).masked.shape == (2, masks.num_masked) == (2, 1411)
