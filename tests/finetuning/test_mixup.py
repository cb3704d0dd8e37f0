"""Mixup / CutMix / label smoothing: exact small cases."""

import random

import pytest
import torch
import torch.nn.functional as F

from sigma_video.finetuning.mixup import (
    MixConfig,
    cutmix_box,
    mix_batch,
    smooth_one_hot,
    soft_cross_entropy,
)


def test_smooth_one_hot_by_hand():
    got = smooth_one_hot(torch.tensor([2, 0]), 4, smoothing=0.2)
    want = torch.tensor([[0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05]])
    torch.testing.assert_close(got, want)
    assert torch.equal(smooth_one_hot(torch.tensor([1]), 3), torch.tensor([[0.0, 1.0, 0.0]]))


def test_soft_cross_entropy_matches_label_smoothing_cross_entropy():
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    targets = smooth_one_hot(labels, 5, 0.1).double()
    got = torch.sum(-targets * F.log_softmax(logits, -1), -1).mean()
    want = F.cross_entropy(logits, labels, label_smoothing=0.1)
    torch.testing.assert_close(got, want)
    assert soft_cross_entropy(logits.float(), targets.float()).item() == pytest.approx(
        want.item(), rel=1e-6
    )


class FixedRng(random.Random):
    def __init__(self, *ints):
        super().__init__(0)
        self.ints = list(ints)

    def randrange(self, *args):
        return self.ints.pop(0)


def test_cutmix_box_by_hand():
    # lam 0.75 -> side ratio 0.5 -> a 5x5 box centred at (4, 6) of a 10x10 frame
    box, lam = cutmix_box(10, 10, 0.75, FixedRng(4, 6))
    assert box == (2, 6, 4, 8)  # 5 // 2 = 2 on either side of the centre
    assert lam == pytest.approx(1 - 16 / 100)
    # centred on a corner: clipped to a 3x3 box
    box, lam = cutmix_box(10, 10, 0.75, FixedRng(0, 9))
    assert box == (0, 2, 7, 10)
    assert lam == pytest.approx(1 - 6 / 100)


def clips():
    video = torch.arange(4 * 3 * 2 * 8 * 8, dtype=torch.float32).view(4, 3, 2, 8, 8)
    return video, torch.tensor([0, 1, 2, 1])


def test_mixup_mixes_each_clip_with_its_mirror():
    video, labels = clips()
    config = MixConfig(mixup=0.8, cutmix=0.0, smoothing=0.1)
    mixed, targets = mix_batch(video, labels, 3, config, random.Random(5))
    replay = random.Random(5)
    replay.random()  # the prob draw
    lam = replay.betavariate(0.8, 0.8)
    torch.testing.assert_close(mixed, lam * video + (1 - lam) * video.flip(0))
    y = smooth_one_hot(labels, 3, 0.1)
    torch.testing.assert_close(targets, lam * y + (1 - lam) * y.flip(0))
    torch.testing.assert_close(targets.sum(1), torch.ones(4))


def test_cutmix_pastes_one_box_through_all_frames():
    video, labels = clips()
    config = MixConfig(mixup=0.0, cutmix=1.0, smoothing=0.0)
    mixed, targets = mix_batch(video, labels, 3, config, random.Random(1))
    pasted = mixed != video  # the mirror clip differs everywhere, so this is the box
    assert pasted.any() and not pasted.all()
    assert torch.equal(pasted, pasted[:1, :1, :1].expand_as(pasted))  # same box everywhere
    assert torch.equal(mixed[pasted], video.flip(0)[pasted])
    share = pasted[0, 0, 0].float().mean().item()
    y = smooth_one_hot(labels, 3)
    torch.testing.assert_close(targets, (1 - share) * y + share * y.flip(0))


def test_no_mixing_when_off_or_by_chance():
    video, labels = clips()
    for config in (MixConfig(mixup=0, cutmix=0), MixConfig(prob=0.0)):
        mixed, targets = mix_batch(video, labels, 3, config, random.Random(0))
        assert torch.equal(mixed, video)
        torch.testing.assert_close(targets, smooth_one_hot(labels, 3, 0.1))


def test_mix_config_validates():
    with pytest.raises(ValueError, match="alphas"):
        MixConfig(mixup=-1)
    with pytest.raises(ValueError, match="smoothing"):
        MixConfig(smoothing=1.5)
