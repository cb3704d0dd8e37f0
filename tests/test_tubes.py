import pytest
import torch

from sigma_video.layers import TubeEmbed
from sigma_video.tubes import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    normalized_tube_pixels,
    token_grid,
    unnormalize,
    video_to_tubes,
)


def test_video_to_tubes_matches_explicit_indexing():
    video = torch.randn(2, 3, 4, 6, 9)
    tubes = video_to_tubes(video, tubelet=2, patch=3)  # grid (2, 2, 3)
    assert tubes.shape == (2, 12, 18, 3)
    b, t, h, w = 1, 1, 0, 2
    n = t * 2 * 3 + h * 3 + w
    for p0 in range(2):
        for p1 in range(3):
            for p2 in range(3):
                idx = p0 * 9 + p1 * 3 + p2
                expected = video[b, :, 2 * t + p0, 3 * h + p1, 3 * w + p2]
                assert torch.equal(tubes[b, n, idx], expected)


def test_tube_order_matches_the_tube_embedding():
    """A Linear on flattened (p0 p1 p2 c) tubes equals the Conv3d with the same weights."""
    embed = TubeEmbed(3, 5, tubelet=2, patch=4)
    video = torch.randn(2, 3, 4, 8, 8)
    weight = embed.proj.weight.permute(0, 2, 3, 4, 1).reshape(5, -1)  # (D, p0 p1 p2 c)
    linear = video_to_tubes(video, 2, 4).flatten(2) @ weight.T + embed.proj.bias
    torch.testing.assert_close(embed(video), linear, rtol=1e-5, atol=1e-5)


def test_normalized_pixels_float64_hand_computation():
    video = torch.rand(1, 3, 2, 4, 4, dtype=torch.float64)
    normed = (
        video - torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1, 1)
    ) / torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1, 1)
    out = normalized_tube_pixels(normed.float(), tubelet=2, patch=2)  # 4 tubes of 8 pixels
    assert out.shape == (1, 4, 24)
    # tube 3 = rows 2:4, cols 2:4, channel c at positions c, c+3, ...
    for c in range(3):
        pix = video[0, c, :, 2:4, 2:4].reshape(-1)
        expected = (pix - pix.mean()) / (pix.std(unbiased=True) + 1e-6)
        torch.testing.assert_close(out[0, 3, c::3].double(), expected, rtol=1e-5, atol=1e-5)


def test_unnormalize_inverts_imagenet_normalisation():
    x = torch.rand(2, 3, 2, 4, 4)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(unnormalize((x - mean) / std), x)


def test_flat_tube_is_finite():
    out = normalized_tube_pixels(torch.zeros(1, 3, 2, 4, 4), tubelet=2, patch=4)
    assert torch.isfinite(out).all() and out.abs().max() < 0.1  # rounding / (0 + 1e-6)


def test_clip_that_does_not_tile():
    assert token_grid(16, 224, 224, 2, 16) == (8, 14, 14)
    with pytest.raises(ValueError, match="does not tile"):
        token_grid(15, 224, 224, 2, 16)
    with pytest.raises(ValueError, match="does not tile"):
        video_to_tubes(torch.zeros(1, 3, 4, 20, 16), 2, 16)
