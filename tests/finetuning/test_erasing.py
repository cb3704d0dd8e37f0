"""Random erasing: boxes by construction, one box through all frames and channels."""

import random

import torch

from sigma_video.finetuning.erasing import erase_box, random_erase


def test_boxes_fit_and_cover_the_requested_share():
    rng = random.Random(0)
    for _ in range(200):
        top, left, h, w = erase_box(32, 48, rng)
        assert top >= 0 and top + h <= 32 and left >= 0 and left + w <= 48
        assert 0.3 / 2 <= h / w <= 2 / 0.3 * 1.5  # aspect within range (+ rounding)
        assert h * w <= (1 / 3) * 32 * 48 * 1.2
    assert erase_box(4, 4, random.Random(0), area=(0.99, 1.0), ratio=(10.0, 10.0)) is None


def test_one_box_per_clip_through_frames_and_channels():
    video = torch.full((3, 3, 4, 16, 16), 7.0)
    erased = random_erase(video, 1.0, random.Random(3))
    assert torch.equal(video, torch.full((3, 3, 4, 16, 16), 7.0))  # input untouched
    changed = erased != 7.0
    for b in range(3):
        box = changed[b, 0, 0]
        assert box.any()
        assert all(torch.equal(changed[b, c, t], box) for c in range(3) for t in range(4))
        rows, cols = box.any(1).nonzero(), box.any(0).nonzero()
        assert box.sum() == len(rows) * len(cols)  # a rectangle
    assert random_erase(video, 0.0, random.Random(0)) is video
