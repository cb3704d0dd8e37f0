"""The memory planner against what PyTorch does: its activation bytes against the tensors
autograd saves, its parameter counts against the built models, its table from the CLI."""

import json

import pytest
import torch

from sigma_video.cli import main
from sigma_video.masks.builder import MaskSettings
from sigma_video.models.config import (
    EncoderSettings,
    ObjectiveSettings,
    PretrainerConfig,
    TargetSettings,
)
from sigma_video.planning.memory import GIB, plan_memory
from sigma_video.planning.model import (
    clip_activation_bytes,
    clip_tokens,
    meta_pretrainer,
    parameter_counts,
    weight_cast_bytes,
)
from sigma_video.pretrainer import build_pretrainer, sample_mask


def saved_bytes(model, video, mask, autocast):
    """Bytes of the distinct storages a training forward saves for backward, parameters
    left out (the planner counts them as weights)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast),
    ):
        model(video, mask)
    return sum(seen.values())


def small(arch="vit_tiny", kind="mlp", objective="sigma", checkpointing=False):
    return PretrainerConfig(
        arch=arch,
        grad_checkpointing=checkpointing,
        encoder=EncoderSettings(num_frames=8, img_size=64),
        target=TargetSettings(kind=kind),
        objective=ObjectiveSettings(kind=objective, num_prototypes=300),
    )


DUAL = MaskSettings(decoder_ratio=0.5)


@pytest.mark.parametrize(
    ("config", "autocast", "masks"),
    [
        (small(), False, MaskSettings()),
        (small(), True, MaskSettings()),
        (small(kind="pixels", objective="l2"), False, MaskSettings()),
        (small(kind="pixels", objective="l2"), True, MaskSettings()),
        (small("vit_small"), True, MaskSettings()),
        (small(checkpointing=True), False, MaskSettings()),
        (small(), False, DUAL),
        (small(kind="pixels", objective="l2"), True, DUAL),
    ],
    ids=[
        "mlp-fp32",
        "mlp-bf16",
        "pixels-fp32",
        "pixels-bf16",
        "small-bf16",
        "checkpoint-fp32",
        "mlp-fp32-decoder-masked",
        "pixels-bf16-decoder-masked",
    ],
)
def test_planned_activations_are_what_autograd_saves(config, autocast, masks):
    torch.manual_seed(0)
    model = build_pretrainer(config).train()
    video = torch.randn(4, 3, 8, 64, 64)
    mask = sample_mask(masks, model, video)
    measured = saved_bytes(model, video, mask, autocast)
    tokens = clip_tokens(model, masks.on(model.encoder.config.grid))
    parts = clip_activation_bytes(model, tokens, 2 if autocast else 4, config.grad_checkpointing)
    planned = 4 * sum(parts.values()) + (weight_cast_bytes(model) if autocast else 0)
    assert abs(planned / measured - 1) < 0.10, (planned, measured)


def test_meta_counts_are_the_built_models():
    for config in (small(), small("vit_small", "pixels", "l2"), PretrainerConfig()):
        torch.manual_seed(0)
        built = build_pretrainer(config)
        counted = parameter_counts(meta_pretrainer(config))
        assert counted == parameter_counts(built)
        assert sum(counted.values()) == sum(p.numel() for p in built.parameters())


def vit_parameters(dim, depth, hidden, patch, tubelet=2):
    """A video ViT's parameters by hand: the tube embedding (a Conv3d with bias), per block
    two LayerNorms, qkv without bias plus q and v biases, the projection and the MLP, and
    the final LayerNorm."""
    embed = 3 * tubelet * patch * patch * dim + dim
    block = 2 * 2 * dim + 3 * dim * dim + 2 * dim + dim * dim + dim
    block += dim * hidden + hidden + hidden * dim + dim
    return embed + depth * block + 2 * dim


def test_huge_and_giant_build_on_the_meta_device():
    """ViT-H/16 (VideoMAE) and ViT-g/14 (VideoMAE V2): counts by hand, the published
    632 M and 1.01 B, and an encoder forward of shapes only."""
    huge = parameter_counts(meta_pretrainer(PretrainerConfig(arch="vit_huge")))
    giant_model = meta_pretrainer(PretrainerConfig(arch="vit_giant"))
    giant = parameter_counts(giant_model)
    assert huge["encoder"] == vit_parameters(1280, 32, 5120, 16) == 631_607_040
    assert giant["encoder"] == vit_parameters(1408, 40, 6144, 14) == 1_011_610_752
    assert giant_model.decoder.blocks[0].mlp.fc1.out_features == 2234  # int(512 · 48/11)
    tokens = clip_tokens(giant_model, MaskSettings().on(giant_model.encoder.config.grid))
    assert (tokens.total, tokens.visible) == (8 * 16 * 16, 8 * 26)
    video = torch.empty(2, 3, 16, 224, 224, device="meta")
    visible = torch.zeros(2, tokens.visible, dtype=torch.long, device="meta")
    out = giant_model.encoder.forward_features(video, visible)
    assert out.shape == (2, 208, 1408) and out.device.type == "meta"


def test_fsdp_shards_the_states_and_checkpointing_the_activations():
    plans = {
        (p.parallel, p.checkpointing): p
        for p in plan_memory(PretrainerConfig(arch="vit_huge"), MaskSettings(), 8, 80)
    }
    ddp, fsdp = plans["ddp", False], plans["fsdp", False]
    trainable = sum(
        v
        for k, v in parameter_counts(meta_pretrainer(PretrainerConfig(arch="vit_huge"))).items()
        if k != "frozen"
    )
    assert ddp.fixed["optimizer"] == 8 * trainable and fsdp.fixed["optimizer"] == trainable
    assert fsdp.fixed_bytes < ddp.fixed_bytes
    assert plans["ddp", True].clip_bytes < ddp.clip_bytes
    for p in plans.values():
        assert p.total(p.max_batch) <= 80 * GIB < p.total(p.max_batch + 1)
    one = plan_memory(PretrainerConfig(arch="vit_huge"), MaskSettings(), 1, 80)[0]
    assert one.fixed["buckets"] == 0  # one GPU: no DDP gradient buckets


def test_plan_prints_the_table_and_json(capsys):
    assert main(["plan", "--gpus", "8", "--gpu-memory", "40", "model.arch=vit_giant"]) == 0
    text = capsys.readouterr().out
    assert "1011.6 M" in text and "fsdp + checkpoint" in text and "8 × 40 GiB" in text
    assert main(["plan", "--json", "model.arch=vit_small"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["parallel"], r["checkpointing"]) for r in rows] == [
        ("ddp", False),
        ("ddp", True),
        ("fsdp", False),
        ("fsdp", True),
    ]
    assert all(r["fits"] == (r["max_batch"] >= r["batch_size"]) for r in rows)
    with pytest.raises(SystemExit):
        main(["plan", "--gpus", "0"])
    assert "gpus >= 1" in capsys.readouterr().err
