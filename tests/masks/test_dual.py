"""Decoder masking (VideoMAE V2's dual masking): the running cell against V2's definition,
the exact kept count, where the tubes are kept, and what reaches the decoder."""

import random

import numpy as np
import pytest
import torch

from sigma_video.data.collate import collate
from sigma_video.masks.builder import MaskConfig, MaskSettings, build_loader_masks
from sigma_video.masks.dual import (
    DecoderMasks,
    check_decoder_ratio,
    decoded_count,
    keep_for_decoder,
    running_cell,
)
from sigma_video.masks.token_mask import TokenMask
from sigma_video.masks.tube import tube_mask
from sigma_video.models.config import EncoderSettings, PretrainerConfig
from sigma_video.pretrainer import build_pretrainer, sample_mask


def v2_running_cell(frames, height, width, ratio, phase):
    """V2's ``RunningCellMaskingGenerator`` pattern at one starting pointer, as its code
    defines it: a queue of ``m`` ones then zeros, read from a pointer that advances before
    each frame, tiled over the frame as a 2×2 unit (1 = not decoded)."""
    m = int(4 * ratio)
    queue = np.array([1] * m + [0] * (4 - m))
    pointer, frames_out = phase, []
    for _ in range(frames):
        pointer += 1
        unit = queue[(np.arange(4) + pointer) % 4].reshape(2, 2)
        frames_out.append(np.tile(unit, (height // 2, width // 2)).flatten())
    return np.stack(frames_out).astype(bool).flatten()


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("phase", range(4))
def test_running_cell_is_videomae_v2s(ratio, phase):
    want = v2_running_cell(8, 14, 14, ratio, phase)
    assert np.array_equal(running_cell((8, 14, 14), ratio, phase).numpy(), want)


def test_on_odd_grids_the_pattern_is_the_tiled_one_cut_at_the_border():
    whole = running_cell((4, 8, 8), 0.5, 1).view(4, 8, 8)
    assert torch.equal(running_cell((4, 7, 7), 0.5, 1).view(4, 7, 7), whole[:, :7, :7])


def test_each_cell_leaves_out_its_share_and_each_position_turns():
    left_out = running_cell((8, 4, 4), 0.75, 2).view(8, 2, 2, 2, 2)  # t, h/2, 2, w/2, 2
    per_cell = left_out.sum(dim=(2, 4))
    assert (per_cell == 3).all()
    # every position is left out in 3 of any 4 consecutive slots
    assert (left_out[:4].sum(0) == 3).all() and (left_out[4:].sum(0) == 3).all()


def test_keep_prefers_what_the_cell_keeps_then_the_noise():
    masked = torch.tensor([[1, 2, 4, 6, 7]])
    left_out = torch.zeros(1, 8, dtype=torch.bool)
    left_out[0, [2, 6, 7]] = True
    noise = torch.tensor([[0.5, 0.9, 0.1, 0.3, 0.2]])
    # kept by the cell: 1 (0.5), 4 (0.1); then the left-out ones by noise: 7 (1.2), 6 (1.3)
    assert keep_for_decoder(masked, left_out, noise, 2).tolist() == [[1, 4]]
    assert keep_for_decoder(masked, left_out, noise, 3).tolist() == [[1, 4, 7]]
    assert keep_for_decoder(masked, left_out, noise, 4).tolist() == [[1, 4, 6, 7]]
    assert keep_for_decoder(masked, left_out, noise, 1).tolist() == [[4]]


def test_ratio_is_checked():
    for bad in (0.1, 1.0, -0.5):
        with pytest.raises(ValueError, match="decoder_ratio"):
            check_decoder_ratio(bad)
        with pytest.raises(ValueError, match="decoder_ratio"):
            MaskSettings(decoder_ratio=bad)
    check_decoder_ratio(0.0)
    assert decoded_count(1408, 0.5) == 704 and decoded_count(1408, 0.0) == 1408
    assert decoded_count(10, 0.75) == 3  # int(7.5) = 7 left out
    with pytest.raises(ValueError, match="keep at least one"):
        decoded_count(1, 0.5)


def test_decoder_masks_keep_an_exact_share_of_the_masked_tubes():
    grid = (8, 14, 14)
    mask = tube_mask(6, grid, 0.9, generator=torch.Generator().manual_seed(0))
    decoder = DecoderMasks(grid, 0.5)
    out = decoder(mask, list(range(6)))
    assert torch.equal(out.masked, mask.masked) and torch.equal(out.visible, mask.visible)
    assert out.decoded.shape == (6, 704) and torch.equal(out.predicted, out.decoded)
    assert torch.equal(out.decoded, out.decoded.sort(dim=1).values)
    hidden = mask.boolean()
    for row in range(6):
        assert hidden[row, out.decoded[row]].all()  # a subset of the masked tubes
        assert len(set(out.decoded[row].tolist())) == 704
    again = decoder(mask, list(range(6)))
    assert torch.equal(again.decoded, out.decoded)  # a function of the seeds
    assert not torch.equal(decoder(mask, list(range(6, 12))).decoded, out.decoded)


def test_the_kept_tubes_follow_the_running_cell():
    """At 90 % tube masking the cell keeps about half of the masked tubes, so nearly all
    kept tubes are ones the cell keeps, and a masked spatial position is decoded in about
    half of the time slots rather than in all or none."""
    grid = (8, 14, 14)
    mask = tube_mask(1, grid, 0.9, generator=torch.Generator().manual_seed(3))
    seed = 11
    out = DecoderMasks(grid, 0.5)(mask, [seed])
    generator = torch.Generator().manual_seed(seed)
    phase = int(torch.randint(4, (1,), generator=generator))
    left_out = running_cell(grid, 0.5, phase)
    share_outside = left_out[out.decoded[0]].float().mean()
    assert share_outside < 0.1
    decoded = torch.zeros(8 * 196, dtype=torch.bool)
    decoded[out.decoded[0]] = True
    slots = decoded.view(8, 196)[:, mask.boolean()[0, :196]].sum(0)  # per masked position
    assert slots.float().mean() == pytest.approx(4.0, abs=0.2)
    assert slots.min() >= 2 and slots.max() <= 6


def test_the_loader_draws_decoder_masks_after_the_encoder_masks():
    grid = (2, 4, 4)
    plain = build_loader_masks(MaskConfig(grid, "tube", 0.75))
    dual = build_loader_masks(MaskConfig(grid, "tube", 0.75, decoder_ratio=0.5))
    a, b = plain(random.Random(5), 2), dual(random.Random(5), 2)
    assert torch.equal(a["mask"].masked, b["mask"].masked)  # the same encoder masks
    assert a["mask"].decoded is None and b["mask"].decoded.shape == (2, 12)
    samples = [
        {"video": torch.zeros(2, 3, 4, 8, 8), "label": 0, "index": i, "skipped": [], **b}
        for i in range(2)
    ]
    batch = collate(samples)
    assert batch["mask"].decoded.shape == (4, 12)
    with pytest.raises(ValueError, match="with and without"):
        TokenMask.cat([a["mask"], b["mask"]])


def test_the_decoder_sees_the_visible_and_the_kept_tubes_only():
    config = PretrainerConfig(arch="vit_tiny", encoder=EncoderSettings(num_frames=8, img_size=64))
    torch.manual_seed(0)
    model = build_pretrainer(config)
    video = torch.randn(2, 3, 8, 64, 64)
    masks = MaskSettings(decoder_ratio=0.5)
    mask = sample_mask(masks, model, video, generator=torch.Generator().manual_seed(1))
    seen = []
    model.decoder.blocks[0].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    predicted = model.forward_prediction(video, mask)
    visible, decoded = mask.visible.shape[1], mask.decoded.shape[1]
    assert decoded == 56 - 28 and predicted.shape == (2, decoded, 256)
    assert seen == [torch.Size([2, visible + decoded, model.decoder.config.embed_dim])]
    loss, _ = model(video, mask)
    assert torch.isfinite(loss)
    assert masks.on(model.encoder.config.grid).num_predicted == decoded


def test_a_pretraining_run_decodes_the_kept_share(synth_root, tmp_path, monkeypatch):
    """``mask.decoder_ratio=0.5`` in a run: every step's decoder predicts half of the
    masked tubes (tiny's 28 masked: 14 decoded) and the run trains."""
    from sigma_video.pretrainer import SigmaPretrainer
    from sigma_video.pretraining.trainer import pretrain
    from tests.pretraining.test_trainer import tiny

    seen = []
    forward = SigmaPretrainer.forward

    def recorded(self, video, mask):
        seen.append((mask.masked.shape[1], mask.predicted.shape[1]))
        return forward(self, video, mask)

    monkeypatch.setattr(SigmaPretrainer, "forward", recorded)
    config = tiny(synth_root, tmp_path / "run", "optim.max_steps=2", "mask.decoder_ratio=0.5")
    summary = pretrain(config, log=lambda _: None)
    assert seen == [(28, 14), (28, 14)]
    assert summary["loss_last"] is not None
