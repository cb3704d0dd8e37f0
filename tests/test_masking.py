import pytest
import torch

from sigma_video.masking import (
    TokenMask,
    gather_tokens,
    make_mask,
    num_masked_per_frame,
    random_mask,
    tube_mask,
)


def test_reference_counts_at_224():
    assert num_masked_per_frame(0.9, 196) == 176
    mask = tube_mask(3, (8, 14, 14), 0.9, generator=torch.Generator().manual_seed(0))
    assert mask.masked.shape == (3, 1408) and mask.visible.shape == (3, 160)
    assert mask.masked.dtype == torch.int64


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


def test_random_mask_counts():
    mask = random_mask(5, (8, 14, 14), 0.9, generator=torch.Generator().manual_seed(2))
    assert mask.masked.shape == (5, int(0.9 * 1568)) and mask.num_tokens == 1568
    frames = mask.boolean().view(5, 8, 196)
    assert not (frames == frames[:, :1]).all()  # not a tube mask
    for b in range(5):
        assert torch.equal(
            torch.cat([mask.visible[b], mask.masked[b]]).sort().values, torch.arange(1568)
        )


def test_boolean_matches_indices():
    mask = TokenMask(visible=torch.tensor([[0, 3]]), masked=torch.tensor([[1, 2, 4]]))
    assert mask.boolean().tolist() == [[False, True, True, False, True]]


def test_gather_tokens():
    x = torch.arange(2 * 4 * 3).view(2, 4, 3)
    out = gather_tokens(x, torch.tensor([[3, 0], [1, 2]]))
    assert out.tolist() == [
        [x[0, 3].tolist(), x[0, 0].tolist()],
        [x[1, 1].tolist(), x[1, 2].tolist()],
    ]


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_ratio_out_of_range(ratio):
    with pytest.raises(ValueError, match="mask ratio"):
        tube_mask(1, (8, 14, 14), ratio)
    with pytest.raises(ValueError, match="mask ratio"):
        random_mask(1, (8, 14, 14), ratio)


def test_ratio_that_masks_nothing_or_everything():
    with pytest.raises(ValueError, match="at least one"):
        tube_mask(1, (2, 2, 2), 0.2)  # int(0.2 * 4) = 0
    with pytest.raises(ValueError, match=r"unknown|one of"):
        make_mask("block", 1, (2, 2, 2), 0.5)
    with pytest.raises(ValueError, match="grid"):
        tube_mask(1, (8, 0, 14), 0.5)
