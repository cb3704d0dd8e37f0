import random

import torch

from sigma_video.data.transforms import (
    crop_resize,
    crop_resize_map,
    fixed_offsets,
    multiscale_crop_box,
    normalize,
    random_resized_crop_box,
    spatial_crop_boxes,
)
from sigma_video.tubes import IMAGENET_MEAN, IMAGENET_STD


def test_multiscale_crop_sizes_and_offsets_follow_the_reference():
    # 320 × 240 frame: sides int(240·s) = 240, 210, 180, 158 (none within 3 px of 224)
    rng = random.Random(0)
    sides = {240, 210, 180, 158}
    seen = set()
    for _ in range(400):
        top, left, h, w = multiscale_crop_box(240, 320, rng)
        assert h in sides and w in sides
        order = sorted(sides, reverse=True)
        assert abs(order.index(h) - order.index(w)) <= 1  # max_distort 1
        assert (left, top) in fixed_offsets(240, 320, h, w)
        seen.add((h, w))
    assert len(seen) == 10  # 4 diagonal + 2·3 neighbouring pairs


def test_multiscale_snaps_to_output_size():
    # base 256: int(256·0.875) = 224 exactly
    boxes = {multiscale_crop_box(256, 256, random.Random(i), size=224)[2] for i in range(200)}
    assert boxes == {256, 224, 192, 168}


def test_fixed_offsets_by_hand():
    offs = fixed_offsets(100, 120, 60, 80)  # steps (120-80)//4 = 10, (100-60)//4 = 10
    assert offs[:5] == [(0, 0), (40, 0), (0, 40), (40, 40), (20, 20)]
    assert len(offs) == 13 and len(fixed_offsets(100, 120, 60, 80, more_fix_crop=False)) == 5


def test_random_resized_crop_in_bounds():
    rng = random.Random(1)
    for _ in range(300):
        top, left, h, w = random_resized_crop_box(90, 160, rng)
        assert top >= 0 and top + h <= 90 and left >= 0 and left + w <= 160 and h > 0 and w > 0


def test_spatial_crops():
    assert spatial_crop_boxes(100, 160, 3) == [
        (0, 0, 100, 100),
        (0, 30, 100, 100),
        (0, 60, 100, 100),
    ]
    assert spatial_crop_boxes(160, 100, 1) == [(30, 0, 100, 100)]


def test_crop_resize_layout_identity_and_flip():
    frames = torch.randint(0, 256, (3, 8, 8, 3), dtype=torch.uint8)
    out = crop_resize(frames, (0, 0, 8, 8), 8)
    assert out.dtype == torch.uint8 and out.shape == (3, 3, 8, 8)
    assert torch.equal(out, frames.permute(3, 0, 1, 2))  # no resize: exact, channel first
    flipped = crop_resize(frames, (2, 1, 4, 4), 4, flip=True)
    assert torch.equal(flipped, frames[:, 2:6, 1:5].permute(3, 0, 1, 2).flip(-1))
    constant = torch.full((2, 20, 30, 3), 77, dtype=torch.uint8)
    assert (crop_resize(constant, (0, 0, 20, 30), 7) == 77).all()


def test_maps_are_cut_like_the_frames():
    maps = torch.rand(3, 8, 8)
    cut = crop_resize_map(maps, (2, 1, 4, 4), 4, flip=True)
    assert cut.dtype == torch.float32 and torch.equal(cut, maps[:, 2:6, 1:5].flip(-1))
    half = torch.zeros(2, 20, 30)
    half[:, :, 15:] = 4.0  # moving on the right half: still on the right after the resize
    resized = crop_resize_map(half, (0, 0, 20, 30), 6)
    assert resized.shape == (2, 6, 6) and resized[:, :, :2].max() < 1e-6
    assert (resized[:, :, 4:] - 4.0).abs().max() < 1e-5


def test_normalize():
    clips = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 1, 2).expand(1, 3, 1, 1, 2)
    out = normalize(clips)
    for c in range(3):
        assert abs(out[0, c, 0, 0, 0].item() - (0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]) < 1e-6
        assert abs(out[0, c, 0, 0, 1].item() - (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]) < 1e-6
