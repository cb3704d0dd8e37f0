import pytest
import torch

from sigma_video.masks.random import random_mask
from sigma_video.masks.token_mask import TokenMask, gather_tokens, masked_count
from sigma_video.masks.tube import tube_mask


def test_reference_count_per_time_slot():
    assert masked_count(0.9, 196) == 176


def test_boolean_matches_indices():
    mask = TokenMask(visible=torch.tensor([[0, 3]]), masked=torch.tensor([[1, 2, 4]]))
    assert mask.boolean().tolist() == [[False, True, True, False, True]]


def test_cat_stacks_the_rows_in_order():
    a = TokenMask(visible=torch.tensor([[0]]), masked=torch.tensor([[1]]))
    b = TokenMask(visible=torch.tensor([[1]]), masked=torch.tensor([[0]]))
    both = TokenMask.cat([a, b])
    assert both.visible.tolist() == [[0], [1]] and both.masked.tolist() == [[1], [0]]


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
    with pytest.raises(ValueError, match="grid"):
        tube_mask(1, (8, 0, 14), 0.5)
