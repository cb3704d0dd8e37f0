"""Each ``model.*`` and ``mask.*`` key of pretraining changes the pretrainer it builds, or
its masks."""

import functools
import random

import pytest
import torch
from torch import nn

from sigma_video.losses.objectives import L2Objective
from sigma_video.masks.builder import MaskConfig, build_loader_masks
from sigma_video.masks.mgmae import flow_guided_mask
from sigma_video.models.projection import PixelTargets
from sigma_video.pretrainer import build_pretrainer, sample_mask
from sigma_video.pretraining.config import load_pretrain_config

BASE = [
    "model.arch=vit_tiny",
    "model.objective.num_prototypes=8",
    "model.encoder.num_frames=4",
    "model.encoder.img_size=32",
]


def config_of(*overrides):
    return load_pretrain_config(None, [*BASE, *overrides])


def value_at(config, key):
    for part in key.split("."):
        config = getattr(config, part)
    return config


def clips(t=4, s=32):
    return torch.randn(2, 3, t, s, s, generator=torch.Generator().manual_seed(0))


def built(*overrides):
    torch.manual_seed(0)
    config = config_of(*overrides)
    return config, build_pretrainer(config.model)


def loss_of(config, model, video=None):
    video = clips() if video is None else video
    mask = sample_mask(config.mask, model, video, torch.Generator().manual_seed(0))
    return model(video, mask)[0]


def linear_widths(module):
    return [m.out_features for m in module.modules() if isinstance(m, nn.Linear)]


def differs(a, b):
    return not torch.equal(a, b)


@functools.cache
def default_loss():
    return loss_of(*built()).item()


def same_loss_changed(config, model):
    """The loss on the same clips, mask and initial weights moves with the setting."""
    return loss_of(config, model).item() != default_loss()


def checkpointed_blocks(config, model, monkeypatch):
    """How many blocks a training forward runs under ``torch.utils.checkpoint``."""
    import sigma_video.layers.block as block

    calls = []
    real = block.checkpoint

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(block, "checkpoint", counted)
    loss_of(config, model.train())
    return len(calls)


@pytest.mark.parametrize(
    ("key", "value", "check"),
    [
        ("model.arch", "vit_small", lambda c, m: m.encoder.config.embed_dim == 384),
        ("model.target.kind", "pixels", lambda c, m: isinstance(m.target, PixelTargets)),
        ("model.objective.kind", "l2", lambda c, m: isinstance(m.objective, L2Objective)),
        ("model.target.projection", "paper", lambda c, m: linear_widths(m.target) == [1024, 256]),
        (
            "model.target.dim",
            64,
            lambda c, m: m.target.out_dim == 64 == m.decoder.head.out_features,
        ),
        (
            "model.objective.num_prototypes",
            16,
            lambda c, m: m.objective.prototypes.weight.shape == (16, 256),
        ),
        ("model.objective.temperature", 0.5, same_loss_changed),
        ("model.objective.epsilon", 0.5, same_loss_changed),
        ("model.objective.sinkhorn_iterations", 1, same_loss_changed),
        ("model.objective.codes", "soft", same_loss_changed),
        ("mask.ratio", 0.5, lambda c, m: sample_mask(c.mask, m, clips()).masked.shape == (2, 4)),
        ("model.encoder.num_frames", 8, lambda c, m: m.encoder.pos_embed.shape == (16, 192)),
        ("model.encoder.img_size", 64, lambda c, m: m.encoder.pos_embed.shape == (32, 192)),
        ("model.encoder.patch", 8, lambda c, m: m.encoder.grid_of(clips()) == (2, 4, 4)),
        ("model.decoder.depth", 1, lambda c, m: len(m.decoder.blocks) == 1),
    ],
)
def test_model_key_changes_the_pretrainer(key, value, check):
    config, model = built(f"{key}={value}")
    default_config, default = built()
    assert value_at(config, key) == value != value_at(default_config, key)
    assert check(config, model)
    assert not check(default_config, default)  # the check tells the two apart


LARGER = ["model.encoder.num_frames=8", "model.encoder.img_size=64"]


def test_mask_kind_and_ratio_change_the_masks():
    """``mask.kind=random`` draws each time slot's tubes on its own (``tube`` repeats one
    spatial pattern over time); ``mask.ratio`` sets how many tubes are hidden."""
    video = clips(t=8, s=64)  # token grid (4, 4, 4)
    rows = {}
    for kind in ("tube", "random"):
        config, model = built(f"mask.kind={kind}", *LARGER, "mask.ratio=0.5")
        masked = sample_mask(config.mask, model, video, torch.Generator().manual_seed(1)).masked
        assert masked.shape == (2, 32)
        rows[kind] = {
            tuple(sorted((masked[0] % 16)[masked[0] // 16 == t].tolist())) for t in range(4)
        }
    assert len(rows["tube"]) == 1 and len(rows["random"]) > 1
    config, model = built(*LARGER)
    assert sample_mask(config.mask, model, video).masked.shape == (2, 4 * 14)  # 0.9 of 16 a slot
    for kind in ("mgm", "mgmae"):  # made from each clip's motion, never a stand-in tube mask
        config, model = built(f"mask.kind={kind}", *LARGER)
        with pytest.raises(ValueError, match="made from each clip's motion"):
            sample_mask(config.mask, model, video)


def test_drop_path_makes_training_forwards_random():
    """Stochastic depth drops blocks at random while training, not in eval mode."""
    video = clips()
    _, model = built("model.encoder.drop_path=0.5")
    for training in (True, False):
        encoder = model.encoder.train(training)
        a, b = encoder.forward_features(video), encoder.forward_features(video)
        assert differs(a, b) == training
    _, default = built()
    encoder = default.encoder.train()
    assert not differs(encoder.forward_features(video), encoder.forward_features(video))


def test_grad_checkpointing_recomputes_every_block(monkeypatch):
    config, model = built("model.grad_checkpointing=true")
    depth = len(model.encoder.blocks) + len(model.decoder.blocks)
    assert checkpointed_blocks(config, model, monkeypatch) == depth
    assert checkpointed_blocks(*built(), monkeypatch) == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("init", "token_rand"),
        ("base", "first"),
        ("holes", "none"),
        ("exposure", "true"),
    ],
)
def test_flow_keys_change_the_mgmae_mask(key, value):
    """MGMAE's settings, from the config to the mask of one clip moving by a known flow."""
    forward = torch.zeros(7, 2, 64, 64)
    forward[:, 0], forward[:, 1] = 3.3, -1.7  # (dx, dy) pixels per frame

    def visible(config):
        options = config.mask.flow
        return flow_guided_mask(forward, -forward, 0.75, random.Random(3), 2, 8, options).visible

    changed = config_of("mask.kind=mgmae", f"mask.flow.{key}={value}")
    assert differs(visible(changed), visible(config_of("mask.kind=mgmae")))


def test_flow_source_decides_where_the_flow_is_computed(tmp_path):
    """``mask.flow.source=dis``: the loader workers compute the flow and make the masks;
    ``raft``: the training step does, on the device."""
    where = {}
    for source in ("dis", "raft"):
        overrides = ("mask.kind=mgmae", f"mask.flow.source={source}", "mask.flow.weights=raft.pth")
        flow = config_of(*overrides).mask.flow
        masks = build_loader_masks(MaskConfig((8, 14, 14), "mgmae", 0.9, flow))
        where[source] = not masks.deferred  # the loader computes the flow
    assert where == {"dis": True, "raft": False}


DINO = ["model.target.kind=dino", "model.target.dino_arch=dino_vits16"]


def test_dino_keys_change_the_target(tmp_path):
    """``model.target.dino_weights`` is φ's image model's file, ``dino_arch`` its
    architecture, ``dino_frames`` which frames of a tube it sees."""
    from sigma_video.models.dino import DINO_PRESETS, ImageViT

    torch.manual_seed(9)
    image_model = ImageViT(DINO_PRESETS["dino_vits16"])
    torch.save(image_model.state_dict(), tmp_path / "dino.pth")
    from_file = [*DINO, f"model.target.dino_weights={tmp_path / 'dino.pth'}"]
    _, first = built(*from_file)
    weight = "blocks.0.attn.qkv.weight"
    loaded = first.target.extractor.image_model
    assert torch.equal(loaded.state_dict()[weight], image_model.state_dict()[weight])
    _, v2 = built(*DINO, "model.target.dino_weights=random", "model.target.dino_arch=dinov2_vits14")
    assert (loaded.config.patch, v2.target.extractor.image_model.config.patch) == (16, 14)
    _, mean = built(*from_file, "model.target.dino_frames=mean")
    video = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(4))
    masked = torch.arange(8).expand(1, -1)
    assert differs(mean.target(video, masked), first.target(video, masked))
