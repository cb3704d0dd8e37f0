"""Layer-wise lr decay: layer ids, scales by hand, optimizer groups and the schedule."""

import pytest

from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.plan import Plan, set_schedule
from sigma_video.finetuning.config import FinetuneOptimConfig
from sigma_video.finetuning.layer_decay import layer_id, lr_scale
from sigma_video.models.classifier import VideoClassifier
from sigma_video.models.encoder import EncoderConfig, VideoEncoder


def test_layer_ids_follow_videomae():
    assert layer_id("patch_embed.proj.weight", 12) == 0
    assert layer_id("pos_embed", 12) == 0
    assert layer_id("blocks.0.attn.qkv.weight", 12) == 1
    assert layer_id("blocks.11.mlp.fc2.bias", 12) == 12
    assert layer_id("fc_norm.weight", 12) == 13
    assert layer_id("norm.bias", 12) == 13


def test_scales_by_hand():
    assert lr_scale("patch_embed.proj.weight", 3, 0.5) == 0.5**4
    assert lr_scale("blocks.0.norm1.weight", 3, 0.5) == 0.5**3
    assert lr_scale("blocks.2.norm1.weight", 3, 0.5) == 0.5
    assert lr_scale("fc_norm.bias", 3, 0.5) == 1.0


def test_optimizer_groups_carry_scales_and_the_schedule_applies_them():
    encoder = VideoEncoder(
        EncoderConfig(embed_dim=32, depth=3, num_heads=2, num_frames=4, img_size=32)
    )
    model = VideoClassifier(encoder, 5)

    def scale(name):
        inner = name.removeprefix("encoder.")
        return lr_scale(inner, 3, 0.5) if inner != name else 1.0

    optimizer = build_optimizer(model, 1.0, 0.05, (0.9, 0.999), lr_scale=scale)
    by_param = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    names = dict(model.named_parameters())
    assert by_param[id(names["head.weight"])]["lr_scale"] == 1.0
    assert by_param[id(names["head.weight"])]["weight_decay"] == 0.05
    assert by_param[id(names["head.bias"])]["weight_decay"] == 0.0
    assert by_param[id(names["encoder.patch_embed.proj.weight"])]["lr_scale"] == 0.5**4
    assert by_param[id(names["encoder.blocks.1.attn.qkv.weight"])]["lr_scale"] == 0.5**2
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(names)

    plan = Plan(10, 10, 100, 0, 256, lr=2e-3, min_lr=1e-6, warmup_lr=0.0)
    lr = set_schedule(optimizer, plan, FinetuneOptimConfig(), 0)
    assert lr == pytest.approx(2e-3)
    for group in optimizer.param_groups:
        assert group["lr"] == pytest.approx(2e-3 * group["lr_scale"])


def test_layer_decay_must_be_in_range():
    with pytest.raises(ValueError, match="layer_decay"):
        FinetuneOptimConfig(layer_decay=0.0)
