"""Forward warping (splatting) against hand-computed cases."""

import pytest
import torch

from sigma_video.flow.warp import forward_warp


def constant_flow(dx, dy, height=6, width=6):
    flow = torch.zeros(2, height, width)
    flow[0], flow[1] = dx, dy
    return flow


def test_integer_translation_lands_exactly_and_leaves_holes():
    values = torch.zeros(1, 6, 6)
    values[0, 1:3, 1:3] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    for mode in ("sum", "soft"):
        warped, coverage = forward_warp(values, constant_flow(2, 1), mode)
        expected = torch.zeros(6, 6)
        expected[2:4, 3:5] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        assert torch.equal(warped[0], expected)
        # every source pixel lands on one pixel; nothing reaches the first row and 2 columns
        holes = torch.ones(6, 6, dtype=torch.bool)
        holes[1:, 2:] = False
        assert torch.equal(coverage == 0, holes)
        assert torch.equal(coverage[~holes], torch.ones(int((~holes).sum())))


def test_sum_splatting_keeps_mass_with_fractional_flow():
    values = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))
    values[:, -1, :] = 0  # what the flow would push out of the frame
    values[:, :, -1] = 0
    warped, _ = forward_warp(values, constant_flow(0.25, 0.5, 8, 8), "sum")
    assert torch.allclose(warped.sum((1, 2)), values.sum((1, 2)), rtol=1e-6)
    # a pixel at (x, y) sends 0.75·0.5 to itself, 0.25·0.5 right, 0.75·0.5 down, 0.25·0.5 down-right
    x = torch.zeros(1, 8, 8)
    x[0, 3, 3] = 1.0
    warped, _ = forward_warp(x, constant_flow(0.25, 0.5, 8, 8), "sum")
    assert warped[0, 3, 3] == pytest.approx(0.375) and warped[0, 3, 4] == pytest.approx(0.125)
    assert warped[0, 4, 3] == pytest.approx(0.375) and warped[0, 4, 4] == pytest.approx(0.125)


def test_soft_splatting_averages_collisions_by_metric():
    # two pixels land on the same target: (0, 0) moves right by one onto (0, 1)'s landing spot
    values = torch.zeros(1, 1, 3)
    values[0, 0, 0], values[0, 0, 1] = 2.0, 6.0
    flow = torch.zeros(2, 1, 3)
    flow[0, 0, 0], flow[0, 0, 1], flow[0, 0, 2] = 2.0, 1.0, 5.0  # two reach x = 2, one leaves
    warped, coverage = forward_warp(values, flow, "soft")
    assert warped[0, 0, 2] == pytest.approx(4.0) and coverage[0, 2] == pytest.approx(2.0)
    assert coverage[0, :2].tolist() == [0.0, 0.0]
    metric = torch.tensor([[0.0, 1.0, 0.0]])  # exp(1) : exp(0) for the second pixel
    warped, _ = forward_warp(values, flow, "soft", metric)
    e = torch.e
    assert warped[0, 0, 2] == pytest.approx((2.0 + 6.0 * e) / (1 + e), rel=1e-6)
    summed, _ = forward_warp(values, flow, "sum")
    assert summed[0, 0, 2] == pytest.approx(8.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="splatting mode"):
        forward_warp(torch.zeros(1, 2, 2), torch.zeros(2, 2, 2), "max")
    with pytest.raises(ValueError, match="does not match"):
        forward_warp(torch.zeros(1, 2, 2), torch.zeros(2, 3, 2))
