import math
import pickle
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from sigma_video import PretrainerConfig, build_pretrainer, sample_mask
from sigma_video.masks.builder import MaskSettings
from sigma_video.models.config import ObjectiveSettings, TargetSettings
from sigma_video.models.dino import (
    DINO_PRESETS,
    ImageViT,
    ImageViTConfig,
    TubeFeatures,
    load_image_vit,
)

TINY = ImageViTConfig(embed_dim=8, depth=1, num_heads=2, patch=4, img_size=8)


def reference_vit(model: ImageViT, images: torch.Tensor) -> torch.Tensor:
    """The standard ViT forward written out in float64 (cls token, learned positions,
    pre-norm attention and MLP, final norm; class token dropped)."""
    p = {k: v.double() for k, v in model.state_dict().items()}
    x = torch.nn.functional.conv2d(
        images.double(), p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=4
    )
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([p["cls_token"].expand(len(x), -1, -1), x], 1) + p["pos_embed"]

    def ln(t, name):
        return torch.nn.functional.layer_norm(t, (8,), p[f"{name}.weight"], p[f"{name}.bias"], 1e-6)

    h = ln(x, "blocks.0.norm1")
    qkv = h @ p["blocks.0.attn.qkv.weight"].T + p["blocks.0.attn.qkv.bias"]
    q, k, v = (
        qkv[..., i * 8 : (i + 1) * 8].reshape(len(x), -1, 2, 4).transpose(1, 2) for i in range(3)
    )
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(4), -1) @ v
    x = (
        x
        + a.transpose(1, 2).reshape(len(x), -1, 8) @ p["blocks.0.attn.proj.weight"].T
        + p["blocks.0.attn.proj.bias"]
    )
    h = ln(x, "blocks.0.norm2")
    h = torch.nn.functional.gelu(h @ p["blocks.0.mlp.fc1.weight"].T + p["blocks.0.mlp.fc1.bias"])
    x = x + h @ p["blocks.0.mlp.fc2.weight"].T + p["blocks.0.mlp.fc2.bias"]
    return ln(x, "norm")[:, 1:]


def test_image_vit_is_the_standard_vit():
    torch.manual_seed(0)
    model = ImageViT(TINY)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.3)
    images = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(
        model(images).double(), reference_vit(model, images), rtol=1e-4, atol=1e-5
    )
    names = set(model.state_dict())
    assert {"cls_token", "pos_embed", "blocks.0.attn.qkv.bias", "norm.weight"} <= names
    assert not any("q_bias" in n for n in names)


@pytest.mark.parametrize("layout", ["plain", "teacher", "safetensors"])
def test_official_formats_load(tmp_path, layout):
    torch.manual_seed(1)
    from sigma_video.models.dino import DINO_PRESETS

    model = ImageViT(DINO_PRESETS["dino_vits16"])
    state = model.state_dict()
    path = tmp_path / "dino.pth"
    if layout == "plain":
        torch.save({**state, "head.weight": torch.zeros(1)}, path)
    elif layout == "teacher":
        torch.save({"teacher": {f"module.backbone.{k}": v for k, v in state.items()}}, path)
    else:
        from safetensors.torch import save_file

        path = tmp_path / "dino.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = load_image_vit(path, "dino_vits16")
    images = torch.randn(1, 3, 32, 48)  # other sizes: positions are resized
    torch.testing.assert_close(loaded(images), model(images))


def test_bad_dino_weights(tmp_path):
    torch.save(ImageViT(TINY).state_dict(), tmp_path / "tiny.pth")
    with pytest.raises(ValueError, match="does not fit dino_vits16: missing"):
        load_image_vit(tmp_path / "tiny.pth", "dino_vits16")

    class Exploit:
        def __reduce__(self):
            return (print, ("executed",))

    with open(tmp_path / "evil.pth", "wb") as handle:
        pickle.dump({"cls_token": Exploit()}, handle)
    with pytest.raises(ValueError, match="refusing to load DINO weights"):
        load_image_vit(tmp_path / "evil.pth", "dino_vits16")
    with pytest.raises(ValueError, match="not found"):
        load_image_vit(tmp_path / "missing.pth")


class _PatchMeans(nn.Module):
    """A stand-in image model: each patch's mean value, one channel."""

    config = SimpleNamespace(patch=4)

    def forward(self, images):
        pooled = torch.nn.functional.avg_pool2d(images.mean(1, keepdim=True), 4)  # (N, 1, h, w)
        return pooled.flatten(2).transpose(1, 2)  # (N, h·w, 1)


def test_tube_features_take_the_first_frame_of_each_tube_in_raster_order():
    video = torch.arange(4.0).view(1, 1, 4, 1, 1).expand(1, 3, 4, 8, 8).clone()  # frame t = t
    video[:, :, :, :4, 4:] += 10  # patch (0, 1) brighter
    out = TubeFeatures(_PatchMeans(), tubelet=2, patch=4)(video)  # (1, 2·2·2, 1)
    assert out.shape == (1, 8, 1)
    assert out[0, :, 0].tolist() == [0, 10, 0, 0, 2, 12, 2, 2]  # tubes start at frames 0, 2
    mean = TubeFeatures(_PatchMeans(), tubelet=2, frames="mean", patch=4)(video)
    assert mean[0, :4, 0].tolist() == [0.5, 10.5, 0.5, 0.5]
    resampled = TubeFeatures(_PatchMeans(), tubelet=2, patch=8)(video)  # grid 2×2 -> 1×1
    assert resampled.shape == (1, 2, 1)


def test_sigma_dino_trains_only_the_video_model():
    torch.manual_seed(0)
    config = PretrainerConfig(
        arch="vit_tiny",
        target=TargetSettings(kind="dino", dino_arch="dino_vits16", dino_weights="random"),
        objective=ObjectiveSettings(num_prototypes=16),
    )
    model = build_pretrainer(config)
    video = torch.randn(2, 3, 8, 64, 64)
    loss, _ = model(video, sample_mask(MaskSettings(), model, video))
    loss.backward()
    assert model.decoder.head.out_features == 384
    assert all(p.grad is None and not p.requires_grad for p in model.target.parameters())
    assert model.encoder.blocks[0].attn.qkv.weight.grad is not None
    with pytest.raises(ValueError, match=r"needs model\.target\.dino_weights"):
        build_pretrainer(PretrainerConfig(arch="vit_tiny", target=TargetSettings(kind="dino")))


def test_dinov2_layout_loads_and_feeds_a_16_patch_encoder(tmp_path):
    from sigma_video.models.dino import DINO_PRESETS

    torch.manual_seed(2)
    model = ImageViT(DINO_PRESETS["dinov2_vits14_reg"])
    names = set(model.state_dict())
    assert {"register_tokens", "mask_token", "blocks.0.ls1.gamma", "blocks.0.ls2.gamma"} <= names
    assert model.pos_embed.shape == (1, 1 + 37 * 37, 384)  # 518² positions, resized at use
    torch.save(model.state_dict(), tmp_path / "dinov2.pth")
    loaded = load_image_vit(tmp_path / "dinov2.pth", "dinov2_vits14_reg")
    video = torch.randn(1, 3, 4, 224, 224)
    features = TubeFeatures(loaded, tubelet=2, patch=16)(video)
    assert features.shape == (1, 2 * 14 * 14, 384)
    torch.testing.assert_close(features, TubeFeatures(model, 2, patch=16)(video))


def test_dino_targets_leave_the_steps_autocast_unless_asked():
    """The official step computes DINO features before its autocast, in float32: under a
    bf16 autocast our default targets equal the float32 ones; ``dino_precision="bf16"``
    keeps the extractor under autocast (measurably different targets)."""
    torch.manual_seed(0)
    targets = {}
    for precision in ("fp32", "bf16"):
        config = PretrainerConfig(
            arch="vit_tiny",
            target=TargetSettings(
                kind="dino",
                dino_arch="dino_vits16",
                dino_weights="random",
                dino_precision=precision,
            ),
            objective=ObjectiveSettings(num_prototypes=16),
        )
        torch.manual_seed(1)
        targets[precision] = build_pretrainer(config).target
    targets["bf16"].load_state_dict(targets["fp32"].state_dict())
    video = torch.randn(2, 3, 4, 64, 64, generator=torch.Generator().manual_seed(2))
    masked = torch.arange(16).expand(2, -1)
    exact = targets["fp32"](video, masked)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = targets["fp32"](video, masked)
        fast = targets["bf16"](video, masked)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, exact, rtol=0, atol=0)
    assert (fast.float() - exact).abs().max() > 1e-3  # bf16's 8-bit mantissa shows
    with pytest.raises(ValueError, match="dino_precision must be one of"):
        PretrainerConfig(target=TargetSettings(kind="dino", dino_precision="fp16"))


@pytest.mark.parametrize("sibling", ["vit_s_ssv2_dino", "vit_s_k400_dino", "vit_b_ssv2_dino"])
def test_vit_s16_dino_presets_differ_from_the_scripts_only_in_phi(sibling):
    """Tab. 7(f) lists a 22 M DINO (ViT-S/16); the released scripts use ViT-B/16."""
    import dataclasses

    from sigma_video.pretraining.config import load_pretrain_config

    scripts, paper = load_pretrain_config(sibling), load_pretrain_config(f"{sibling}_s16")
    assert (scripts.model.target.dino_arch, paper.model.target.dino_arch) == (
        "dino_vitb16",
        "dino_vits16",
    )
    target = dataclasses.replace(paper.model.target, dino_arch="dino_vitb16")
    assert dataclasses.replace(paper.model, target=target) == scripts.model
    assert (paper.data, paper.optim) == (scripts.data, scripts.optim)
    phi = ImageViT(DINO_PRESETS[paper.model.target.dino_arch])
    assert sum(p.numel() for p in phi.parameters()) / 1e6 == pytest.approx(21.7, abs=0.1)
