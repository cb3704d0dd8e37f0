"""RandAugment for clips: parsing, draws, exact small cases of the operations."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.randaugment import (
    FILL,
    RandAugment,
    apply_op,
    randaugment_clip,
    sample_ops,
)


def test_parse_timm_style_specs():
    assert RandAugment.parse("rand-m7-n4-mstd0.5-inc1") == RandAugment(4, 7.0, 0.5)
    assert RandAugment.parse("m9-n2") == RandAugment(2, 9.0, 0.5)
    assert RandAugment.parse("none").ops == 0
    with pytest.raises(ValueError, match="cannot read RandAugment"):
        RandAugment.parse("x7")
    with pytest.raises(ValueError, match="magnitude"):
        RandAugment(magnitude=11)


def test_draws():
    full = RandAugment(ops=3, magnitude=10, std=0.0, prob=1.0)
    draws = sample_ops(full, random.Random(0))
    assert len(draws) == 3 and all(level == 1.0 for _, level, _ in draws)
    assert sample_ops(RandAugment(ops=3, prob=0.0), random.Random(0)) == []
    noisy = sample_ops(RandAugment(ops=50, magnitude=10, std=5.0, prob=1.0), random.Random(1))
    assert all(0.0 <= level <= 1.0 for _, level, _ in noisy)  # clipped to [0, 10] / 10


def gradient(h=8, w=20):
    x = np.arange(w, dtype=np.uint8)[None, :, None] * 12
    return np.broadcast_to(x, (h, w, 3)).copy()


def test_pixel_operations_by_hand():
    pixels = gradient()
    image = Image.fromarray(pixels)
    out = lambda name, level, negate=False: np.asarray(apply_op(image, name, level, negate))  # noqa: E731
    np.testing.assert_array_equal(out("invert", 0.3), 255 - pixels)
    np.testing.assert_array_equal(
        out("solarize", 0.5), np.where(pixels >= 128, 255 - pixels, pixels)
    )
    added = np.where(pixels < 128, np.minimum(pixels.astype(int) + 110, 255), pixels)
    np.testing.assert_array_equal(out("solarize_add", 1.0), added)
    np.testing.assert_array_equal(out("posterize", 0.5), pixels & 0b11000000)  # 2 bits kept
    np.testing.assert_array_equal(out("brightness", 0.0), pixels)  # factor 1
    np.testing.assert_array_equal(out("rotate", 0.0), pixels)


def test_translate_moves_content_and_fills_with_the_mean():
    pixels = gradient()
    moved = np.asarray(apply_op(Image.fromarray(pixels), "translate_x", 1.0, False))
    shift = round(0.45 * 20)  # 9 pixels: the output at x shows the input at x + 9
    np.testing.assert_array_equal(moved[:, : 20 - shift], pixels[:, shift:])
    assert (moved[:, 20 - shift :] == np.array(FILL, dtype=np.uint8)).all()


def test_same_operations_on_every_frame():
    frames = np.stack([gradient(), 255 - gradient()])  # two different frames
    draws = [("rotate", 0.7, True), ("contrast", 0.5, False)]
    clip = randaugment_clip(frames, draws)
    for t in range(2):
        image = Image.fromarray(frames[t])
        for name, level, negate in draws:
            image = apply_op(image, name, level, negate)
        np.testing.assert_array_equal(clip[t], np.asarray(image))
    assert randaugment_clip(frames, []) is frames  # no draws: untouched


def test_clips_with_randaugment_are_reproducible(synth_root):
    from sigma_video.data.annotations import read_list

    records = read_list(synth_root / "train.csv", root=str(synth_root))[0][:4]
    base = ClipConfig(num_frames=4, stride=2, size=32, crop="center")
    plain = VideoClips(records, base)
    augmented = VideoClips(records, ClipConfig(**{**base.__dict__, "randaugment": RandAugment()}))
    first = [augmented[i]["video"] for i in range(4)]
    assert all(torch.equal(a, augmented[i]["video"]) for i, a in enumerate(first))
    assert any(not torch.equal(a, plain[i]["video"]) for i, a in enumerate(first))
