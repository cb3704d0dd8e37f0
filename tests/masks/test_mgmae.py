"""MGMAE's flow-guided masks: the pure parts by hand, then real motion, then a short
pretraining run with the loader's masks (DIS flow)."""

import math
import random

import numpy as np
import pytest
import torch

from sigma_video.masks.mgmae import (
    FlowMaskOptions,
    flow_guided_mask,
    initial_map,
    keep_best,
    propagate,
    tube_scores,
    visible_count,
)
from sigma_video.masks.tube import tube_mask


def test_initial_maps_by_hand():
    cells = torch.tensor([5])  # row 1, column 1 of a 3×4 grid of 4-pixel cells
    gauss = initial_map(cells, (3, 4), 4, "mix_gauss")
    assert gauss.shape == (12, 16)
    centre = (1 * 4 + 1.5, 1 * 4 + 1.5)  # (y, x) of the cell's centre
    for y, x in [(0, 0), (5, 5), (11, 3)]:
        expected = math.exp(-(((y - centre[0]) / 4) ** 2 + ((x - centre[1]) / 4) ** 2))
        expected /= math.exp(-2 * (0.5 / 4) ** 2)  # divided by the map's maximum
        assert gauss[y, x].item() == pytest.approx(expected, rel=1e-5)
    tokens = initial_map(torch.tensor([0, 11]), (3, 4), 4, "token_rand")
    assert tokens[:4, :4].eq(1).all() and tokens[8:, 12:].eq(1).all()
    assert tokens[4:8, 4:8].eq(1e-8).all()


def test_propagation_follows_integer_flow_and_fills_holes():
    start = torch.zeros(8, 8)
    start[2:4, 2:4] = 1.0
    start[0, 7] = 0.5
    right = torch.zeros(3, 2, 8, 8)
    right[:, 0] = 1.0  # every frame moves one pixel right
    left = -right
    maps = propagate(start, right, left, base=1, hole_filling="none")
    assert torch.equal(maps[1], start)
    assert maps[2][2:4, 3:5].eq(1).all() and maps[3][2:4, 4:6].eq(1).all()
    assert maps[0][2:4, 1:3].eq(1).all()
    assert maps[2][0, 7] == 0  # carried out of the frame; nothing lands on column 0
    filled = propagate(start, right, left, base=1, hole_filling="consist")
    assert filled[2][0, 0] == start[0, 0] and filled[3][:, :2].equal(start[:, :2])


def test_keep_best_keeps_the_tube_masks_count_per_slot():
    scores = torch.arange(12.0).view(2, 6)
    mask = keep_best(scores, 2, torch.Generator().manual_seed(0), exposure=False)
    assert mask.visible.tolist() == [[4, 5, 10, 11]]
    assert mask.masked.tolist() == [[0, 1, 2, 3, 6, 7, 8, 9]]
    assert visible_count(0.9, 196) == 20  # as the tube mask (MGMAE's code keeps 19)
    tube = tube_mask(1, (8, 14, 14), 0.9)
    assert tube.visible.shape[1] == 8 * visible_count(0.9, 196)
    assert tube_scores(torch.ones(4, 4, 6), 2, 2).tolist() == [[8.0] * 6] * 2


def translating_video(velocity, frames=16, size=64, seed=0):
    """A smooth random texture moving ``velocity`` pixels per frame to the right."""
    g = torch.Generator().manual_seed(seed)
    texture = torch.rand(1, 3, 24, 80, generator=g) * 255
    texture = torch.nn.functional.interpolate(
        texture, size=(size, size + velocity * frames), mode="bicubic"
    ).clamp(0, 255)[0]
    offset = velocity * frames
    clip = [
        texture[:, :, offset - velocity * t : offset - velocity * t + size] for t in range(frames)
    ]
    return torch.stack(clip).permute(0, 2, 3, 1).to(torch.uint8).numpy()  # (T, S, S, 3)


def follow_rate(mask, grid, shift):
    """Share of the visible tubes of slots 1.. whose tube ``shift`` columns to the left was
    visible in the slot before: how well visibility follows a rightward motion."""
    slots, rows, cols = grid
    visible = torch.zeros(slots * rows * cols, dtype=torch.bool)
    visible[mask.visible[0]] = True
    visible = visible.view(slots, rows, cols)
    hits = total = 0
    for s in range(1, slots):
        for r, c in visible[s].nonzero().tolist():
            if c - shift >= 0:
                total += 1
                hits += bool(visible[s - 1, r, c - shift])
    return hits / total


def test_masks_follow_a_known_translation():
    # 4 pixels per frame, 2 frames per time slot: one 8-pixel tube per slot to the right
    frames, size, patch = 16, 64, 8
    forward = torch.zeros(frames - 1, 2, size, size)
    forward[:, 0] = 4.0
    grid = (frames // 2, size // patch, size // patch)
    flow_rates, tube_rates = [], []
    for seed in range(5):
        mask = flow_guided_mask(forward, -forward, 0.75, random.Random(seed), 2, patch)
        flow_rates.append(follow_rate(mask, grid, 1))
        tube = tube_mask(1, grid, 0.75, generator=torch.Generator().manual_seed(seed))
        tube_rates.append(follow_rate(tube, grid, 1))
    assert np.mean(flow_rates) > 0.8 and np.mean(tube_rates) < 0.4


def test_masks_follow_real_motion_with_dis_flow():
    from sigma_video.flow.sources import DISFlow

    video = translating_video(4)
    forward, backward = DISFlow("medium")(video)
    # away from the edge where new texture enters, DIS finds the motion
    assert forward[:, 0, :, 16:48].median().item() == pytest.approx(4.0, abs=0.2)
    assert backward[:, 0, :, 16:48].median().item() == pytest.approx(-4.0, abs=0.2)
    grid = (8, 8, 8)
    rates = [
        follow_rate(flow_guided_mask(forward, backward, 0.75, random.Random(s), 2, 8), grid, 1)
        for s in range(3)
    ]
    tube = [
        follow_rate(tube_mask(1, grid, 0.75, generator=torch.Generator().manual_seed(s)), grid, 1)
        for s in range(3)
    ]
    assert np.mean(rates) > 0.7 and np.mean(rates) > 2 * np.mean(tube)


def test_mask_is_a_pure_function_of_the_rng_and_checks_its_options():
    forward = torch.randn(7, 2, 32, 32, generator=torch.Generator().manual_seed(1))
    options = FlowMaskOptions(init="token_rand", base="random", exposure=True)
    a = flow_guided_mask(forward, -forward, 0.75, random.Random(3), 2, 8, options)
    b = flow_guided_mask(forward, -forward, 0.75, random.Random(3), 2, 8, options)
    assert torch.equal(a.visible, b.visible) and a.visible.shape == (1, 4 * 4)
    with pytest.raises(ValueError, match=r"mask\.flow\.init must be one of"):
        FlowMaskOptions(init="pixel")
    with pytest.raises(ValueError, match=r"mask\.flow\.source must be one of"):
        FlowMaskOptions(source="farneback")


def test_pretraining_with_flow_guided_masks(synth_root, tmp_path):
    from sigma_video.pretraining.trainer import pretrain
    from tests.pretraining.test_trainer import tiny

    config = tiny(synth_root, tmp_path / "run", "mask.kind=mgmae", "optim.max_steps=3")
    summary = pretrain(config, log=lambda _: None)
    assert summary["steps"] == 3 and np.isfinite(summary["loss_last"])
