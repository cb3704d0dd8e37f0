import pytest
import torch
from torch import nn

from sigma_video import PretrainerConfig, build_pretrainer, sample_mask, tube_mask
from sigma_video.layers import TubeEmbed, resample_table, sinusoid_table
from sigma_video.masks.builder import MaskSettings
from sigma_video.models import (
    FrozenFeatures,
    MLPProjection,
    PixelTargets,
    create_decoder,
    create_encoder,
    encoder_config,
    list_models,
    model_preset,
)
from sigma_video.models.config import (
    EncoderSettings,
    ObjectiveSettings,
    TargetSettings,
    target_freeze_steps,
)
from sigma_video.pretrainer import SigmaPretrainer
from sigma_video.tubes import normalized_tube_pixels

SMALL = {"num_frames": 4, "img_size": 32}  # token grid (2, 2, 2)


def clips(b=2, t=4, s=32, seed=0):
    return torch.randn(b, 3, t, s, s, generator=torch.Generator().manual_seed(seed))


FULL_SIZE = {"vit_large"}  # 300 M parameters: built in the slow tier only
META_ONLY = {"vit_huge", "vit_giant"}  # built on the meta device (tests/planning)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in FULL_SIZE else n
        for n in list_models()
        if n not in META_ONLY
    ],
)
@pytest.mark.parametrize(("target", "objective"), [("mlp", "sigma"), ("pixels", "l2")])
def test_every_model_forward_backward(name, target, objective):
    torch.manual_seed(0)
    config = PretrainerConfig(
        arch=name,
        target=TargetSettings(kind=target),
        objective=ObjectiveSettings(kind=objective, num_prototypes=16),
        encoder=EncoderSettings(**SMALL),
    )
    model = build_pretrainer(config)
    video = clips()
    loss, metrics = model(video, sample_mask(MaskSettings(ratio=0.5), model, video))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(v).all() for v in metrics.values())
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_presets_match_the_reference_shapes():
    shapes = {
        name: (
            p.encoder.embed_dim,
            p.encoder.depth,
            p.encoder.num_heads,
            p.decoder.embed_dim,
            p.decoder.depth,
            p.decoder.num_heads,
        )
        for name in ("vit_small", "vit_base", "vit_large", "vit_huge", "vit_giant")
        for p in [model_preset(name)]
    }
    assert shapes["vit_small"] == (384, 12, 6, 192, 4, 3)
    assert shapes["vit_base"] == (768, 12, 12, 384, 4, 6)
    assert shapes["vit_large"] == (1024, 24, 16, 512, 4, 8)
    assert shapes["vit_huge"] == (1280, 32, 16, 640, 4, 8)  # VideoMAE's ViT-H
    assert shapes["vit_giant"] == (1408, 40, 16, 512, 4, 8)  # VideoMAE V2's ViT-g
    giant = model_preset("vit_giant")
    assert (giant.encoder.patch, giant.encoder.mlp_ratio, giant.decoder.mlp_ratio) == (
        14,
        48 / 11,
        48 / 11,
    )
    assert model_preset("vit_base").encoder.grid == (8, 14, 14)
    assert giant.encoder.grid == (8, 16, 16)
    with pytest.raises(ValueError, match=r"unknown model 'vit_colossal'.*vit_base"):
        model_preset("vit_colossal")


def test_parameter_names_follow_the_reference_checkpoints():
    encoder = create_encoder("vit_small")
    keys = set(encoder.state_dict())
    assert {
        "patch_embed.proj.weight",
        "blocks.0.norm1.weight",
        "blocks.0.attn.qkv.weight",
        "blocks.0.attn.q_bias",
        "blocks.0.attn.v_bias",
        "blocks.0.attn.proj.weight",
        "blocks.11.mlp.fc2.bias",
        "norm.weight",
    } <= keys
    assert "blocks.0.attn.qkv.bias" not in keys and not any("pos_embed" in k for k in keys)
    assert encoder.state_dict()["patch_embed.proj.weight"].shape == (384, 3, 2, 16, 16)
    decoder = create_decoder("vit_small", out_dim=256)
    assert decoder.encoder_to_decoder.bias is None
    assert decoder.state_dict()["encoder_to_decoder.weight"].shape == (192, 384)
    assert decoder.state_dict()["head.weight"].shape == (256, 192)
    assert decoder.mask_token.abs().max() <= 0.02 and decoder.mask_token.std() > 0.005


def test_initialisation_follows_the_reference():
    """Xavier-uniform Linear layers in the blocks; PyTorch's default elsewhere."""
    torch.manual_seed(0)
    config = PretrainerConfig(arch="vit_small", objective=ObjectiveSettings(num_prototypes=16))
    model = build_pretrainer(config)

    def bound(w):  # the largest |w| and its ratio to a uniform init's bound
        return w.abs().max().item()

    qkv = model.encoder.blocks[0].attn.qkv.weight  # (3·384, 384): xavier bound sqrt(6/(4·384))
    xavier = (6 / (qkv.shape[0] + qkv.shape[1])) ** 0.5
    assert 0.98 * xavier < bound(qkv) <= xavier
    fc1 = model.decoder.blocks[0].mlp.fc1.weight
    assert bound(fc1) <= (6 / sum(fc1.shape)) ** 0.5
    assert model.encoder.blocks[0].mlp.fc1.bias.abs().max() == 0
    for default in (model.decoder.encoder_to_decoder.weight, model.target.mlp[0].weight):
        kaiming = 1 / default.shape[1] ** 0.5  # nn.Linear's default bound
        assert 0.98 * kaiming < bound(default) <= kaiming
    assert model.target.mlp[0].bias.abs().max() > 0  # default init: non-zero bias
    prototypes = model.objective.prototypes.weight
    assert 0.8 < prototypes.std().item() < 1.2  # N(0, 1) before the first normalisation


def test_all_visible_equals_full_clip():
    torch.manual_seed(0)
    encoder = create_encoder("vit_tiny", **SMALL).eval()
    video = clips()
    everything = torch.arange(8).expand(2, -1)
    torch.testing.assert_close(
        encoder.forward_features(video, everything), encoder.forward_features(video)
    )
    torch.testing.assert_close(
        encoder.forward_pooled(video), encoder.forward_features(video).mean(1)
    )


def test_visible_subset_is_encoded_alone():
    """Masked tokens must not influence the visible tokens' encoding."""
    torch.manual_seed(0)
    encoder = create_encoder("vit_tiny", **SMALL).eval()
    video = clips(b=1)
    visible = torch.tensor([[0, 3, 5]])  # grid (2, 2, 2): token = 4t + 2h + w
    reference = encoder.forward_features(video, visible)
    masked_changed = video.clone()
    masked_changed[:, :, 2:, 16:, 16:] += 5.0  # token 7 (t=1, h=1, w=1), not visible
    torch.testing.assert_close(encoder.forward_features(masked_changed, visible), reference)
    visible_changed = video.clone()
    visible_changed[:, :, 2:, :16, 16:] += 5.0  # token 5 (t=1, h=0, w=1), visible
    assert not torch.allclose(encoder.forward_features(visible_changed, visible), reference)


def test_decoder_matches_boolean_mask_formulation():
    """Predictions are for the masked tokens in ascending order (reference `x[mask]`)."""
    torch.manual_seed(0)
    decoder = create_decoder("vit_tiny", out_dim=7).eval()
    mask = tube_mask(2, (2, 3, 3), 0.6, generator=torch.Generator().manual_seed(0))
    encoded = torch.randn(2, mask.visible.shape[1], 192)
    out = decoder(encoded, mask)
    assert out.shape == (2, mask.masked.shape[1], 7)
    table = sinusoid_table(18, 96)
    flags = mask.boolean()
    for b in range(2):
        x_vis = decoder.encoder_to_decoder(encoded[b]) + table[~flags[b]]
        x_mask = decoder.mask_token[0] + table[flags[b]]
        x = torch.cat([x_vis, x_mask])[None]
        for block in decoder.blocks:
            x = block(x)
        expected = decoder.head(decoder.norm(x))[0, -x_mask.shape[0] :]
        torch.testing.assert_close(out[b], expected)


def test_position_tables_at_other_clip_sizes():
    """The embedding adds the table for the clip's actual grid (built for 8×64²: (4, 4, 4))."""
    encoder = create_encoder("vit_tiny")
    default = torch.randn(1, 3, 8, 64, 64)
    torch.testing.assert_close(
        encoder.embed(default), encoder.patch_embed(default) + sinusoid_table(64, 192)
    )
    video = torch.randn(1, 3, 4, 48, 48)  # grid (2, 3, 3)
    torch.testing.assert_close(
        encoder.embed(video), encoder.patch_embed(video) + sinusoid_table(18, 192)
    )
    interp = create_encoder("vit_tiny", pos_table="interpolate")
    expected = resample_table(sinusoid_table(64, 192), (4, 4, 4), (2, 3, 3))
    torch.testing.assert_close(interp.embed(video), interp.patch_embed(video) + expected)
    assert not torch.allclose(expected, sinusoid_table(18, 192))
    assert encoder.forward_features(video).shape == (1, 18, 192)
    assert "pos_embed" not in encoder.state_dict()


def test_with_clip_rebuilds_the_encoder_for_another_default_clip():
    from sigma_video.models.encoder import with_clip

    encoder = create_encoder("vit_tiny").eval()  # built for 8×64²
    assert with_clip(encoder, 8, 64) is encoder
    rebuilt = with_clip(encoder, 4, 48)  # grid (2, 3, 3): its default table now
    assert (rebuilt.config.num_frames, rebuilt.config.img_size) == (4, 48)
    assert rebuilt.pos_embed.shape == (18, 192) and not rebuilt.training
    video = torch.randn(1, 3, 4, 48, 48)
    torch.testing.assert_close(rebuilt.forward_features(video), encoder.forward_features(video))
    with pytest.raises(ValueError, match="learned position table"):
        with_clip(create_encoder("vit_tiny", learned_pos=True), 4, 48)


def test_a_learned_position_table_is_a_saved_trained_parameter():
    from sigma_video.engine.optim import parameter_groups

    encoder = create_encoder("vit_tiny", learned_pos=True)  # grid (4, 4, 4)
    assert encoder.state_dict()["pos_embed"].shape == (64, 192)
    with torch.no_grad():
        encoder.pos_embed.add_(torch.randn(64, 192))
    video = torch.randn(1, 3, 4, 48, 48)  # grid (2, 3, 3): the learned table, resampled
    expected = resample_table(encoder.pos_embed.detach(), (4, 4, 4), (2, 3, 3))
    torch.testing.assert_close(encoder.embed(video), encoder.patch_embed(video) + expected)
    encoder.forward_features(video).sum().backward()
    assert encoder.pos_embed.grad.abs().sum() > 0
    no_decay = [p for g in parameter_groups(encoder, 0.05) if not g["decayed"] for p in g["params"]]
    assert any(p is encoder.pos_embed for p in no_decay)


def test_activation_checkpointing_gives_the_same_gradients():
    video = clips()
    grads = []
    for flag in (False, True):
        torch.manual_seed(0)
        encoder = create_encoder("vit_tiny", grad_checkpointing=flag, **SMALL).train()
        encoder.forward_features(video).square().mean().backward()
        grads.append(encoder.blocks[0].attn.qkv.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 4, 32), r"\(B, 3, T, H, W\)"),
        ((2, 1, 4, 32, 32), r"\(B, 3"),
        ((2, 3, 5, 32, 32), "tile"),
    ],
)
def test_wrong_clip_shape(shape, message):
    with pytest.raises(ValueError, match=message):
        create_encoder("vit_tiny").forward_features(torch.zeros(shape))


def test_mask_that_does_not_fit_the_clip():
    config = PretrainerConfig(
        arch="vit_tiny",
        objective=ObjectiveSettings(num_prototypes=8),
        encoder=EncoderSettings(**SMALL),
    )
    model = build_pretrainer(config)
    wrong = tube_mask(2, (4, 4, 4), 0.5)
    with pytest.raises(ValueError, match="does not fit"):
        model(clips(), wrong)


def test_prototypes_normalised_and_frozen_for_first_steps():
    config = PretrainerConfig(
        arch="vit_tiny",
        objective=ObjectiveSettings(num_prototypes=8, freeze_prototypes_steps=2),
        encoder=EncoderSettings(**SMALL),
    )
    model = build_pretrainer(config)
    prototypes = model.objective.prototypes
    assert not torch.allclose(prototypes.weight.norm(dim=1), torch.ones(8))
    video = clips()
    for step, frozen in [(0, True), (1, True), (2, False)]:
        loss, _ = model(video, sample_mask(MaskSettings(), model, video))
        torch.testing.assert_close(prototypes.weight.norm(dim=1), torch.ones(8))
        model.zero_grad(set_to_none=True)
        loss.backward()
        model.after_backward(step)
        assert (prototypes.weight.grad is None) == frozen


def test_target_network_frozen_for_first_steps_while_the_rest_trains():
    """``model.target.freeze_steps``: an AdamW step leaves φ exactly as it was while the step is
    below the setting (its gradients dropped), and moves the prototypes and Ψ; later steps
    move φ too."""
    torch.manual_seed(0)
    config = PretrainerConfig(
        arch="vit_tiny",
        objective=ObjectiveSettings(num_prototypes=8),
        target=TargetSettings(projection="paper", freeze_steps=1),
        encoder=EncoderSettings(**SMALL),
    )
    model = build_pretrainer(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
    video = clips()
    for step, frozen in [(0, True), (1, False)]:
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        loss, _ = model(video, sample_mask(MaskSettings(), model, video))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.after_backward(step)
        optimizer.step()
        moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        target = {n for n, _ in model.named_parameters() if n.startswith("target.")}
        assert target and (moved.isdisjoint(target) if frozen else target <= moved)
        assert "objective.prototypes.weight" in moved
        assert any(n.startswith("encoder.") for n in moved)
    with pytest.raises(ValueError, match="freeze_target_steps"):
        SigmaPretrainer(model.encoder, model.decoder, model.target, model.objective, -1)
    with pytest.raises(ValueError, match="freeze_epochs"):
        PretrainerConfig(arch="vit_tiny", target=TargetSettings(freeze_epochs=-0.5))
    # the epochs count in the run's own epochs, added to the steps
    epochs = PretrainerConfig(
        arch="vit_tiny", target=TargetSettings(freeze_steps=3, freeze_epochs=1.5)
    )
    assert target_freeze_steps(epochs, 60) == 3 + 90 and target_freeze_steps(config, 7) == 1


class _FixedFeatures(nn.Module):
    """A stand-in frozen image model: a random tube embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = TubeEmbed(3, 6, 2, 16)
        self.dropout = nn.Dropout(0.5)

    def forward(self, video):
        return self.dropout(self.embed(video))


def test_frozen_feature_targets_are_standardised_and_frozen():
    torch.manual_seed(0)
    extractor = _FixedFeatures()
    target = FrozenFeatures(extractor, out_dim=6)
    config = PretrainerConfig(
        arch="vit_tiny",
        objective=ObjectiveSettings(num_prototypes=8),
        encoder=EncoderSettings(**SMALL),
    )
    model = build_pretrainer(config, target=target).train()
    assert not extractor.training  # eval mode survives .train()
    video = clips()
    all_tokens = torch.arange(8).expand(2, -1)
    features = target(video, all_tokens)
    torch.testing.assert_close(features.mean(1), torch.zeros(2, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(features.std(1), torch.ones(2, 6), atol=1e-4, rtol=0)
    loss, _ = model(video, sample_mask(MaskSettings(), model, video))
    loss.backward()
    assert all(p.grad is None for p in extractor.parameters())
    assert model.decoder.head.out_features == 6


class _Recorder(nn.Module):
    """An objective that records what it is given."""

    def forward(self, predicted, target):
        self.seen = (predicted, target)
        return predicted.sum() * 0, {}

    def after_backward(self, step):
        pass


def test_pretrainer_pairs_predictions_and_targets_of_the_same_tubes():
    torch.manual_seed(0)
    encoder = create_encoder("vit_tiny", **SMALL)
    decoder = create_decoder("vit_tiny", out_dim=1536)
    model = SigmaPretrainer(encoder, decoder, PixelTargets(), _Recorder())
    video = clips()
    mask = tube_mask(2, (2, 2, 2), 0.5, generator=torch.Generator().manual_seed(3))
    model(video, mask)
    predicted, target = model.objective.seen
    tubes = normalized_tube_pixels(video)
    for b in range(2):
        torch.testing.assert_close(target[b], tubes[b, mask.masked[b]])  # same tube order
    torch.testing.assert_close(
        predicted, decoder(encoder.forward_features(video, mask.visible), mask)
    )


def test_frozen_extractor_with_wrong_token_count():
    target = FrozenFeatures(nn.Identity(), out_dim=6)
    with pytest.raises(ValueError, match="one 6-d feature per tube"):
        target(clips(), torch.zeros(2, 3, dtype=torch.long))


def test_unknown_option_names_the_closest():
    with pytest.raises(ValueError, match="did you mean 'embed_dim'"):
        encoder_config("vit_tiny", embed_dimm=3)


def test_mlp_projection_presets():
    reference = MLPProjection()
    widths = [m.out_features for m in reference.mlp if isinstance(m, nn.Linear)]
    assert reference.mlp[0].in_features == 1536 and widths == [1024, 1024, 512, 256]
    assert sum(isinstance(m, nn.GELU) for m in reference.mlp) == 3
    paper = MLPProjection(hidden=(1024,))
    assert [m.out_features for m in paper.mlp if isinstance(m, nn.Linear)] == [1024, 256]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("mask.ratio=1.0", r"mask\.ratio"),
        ("model.objective.num_prototypes=1", "num_prototypes"),
        ("model.objective.epsilon=0", "epsilon"),
        ("model.objective.codes=fuzzy", "codes"),
        ("model.arch=vit_colossal", r"model\.arch"),
        ("model.target.projection=huge", r"model\.target\.projection"),
    ],
)
def test_config_errors_name_the_key(override, message):
    from sigma_video.pretraining.config import load_pretrain_config

    with pytest.raises(ValueError, match=message):
        load_pretrain_config(None, [override])


def test_every_variant_starts_from_the_same_encoder():
    weights = []
    for target, objective in (("mlp", "sigma"), ("pixels", "l2"), ("mlp", "l2")):
        torch.manual_seed(7)
        config = PretrainerConfig(
            arch="vit_tiny",
            target=TargetSettings(kind=target),
            objective=ObjectiveSettings(kind=objective, num_prototypes=8),
        )
        weights.append(build_pretrainer(config).encoder.state_dict())
    for other in weights[1:]:
        assert all(torch.equal(weights[0][k], other[k]) for k in weights[0])


def test_top_level_entry_points():
    import sigma_video

    encoder, clip = sigma_video.load_model("random:demo")
    assert encoder.config.embed_dim == 192 and clip.size == 64
    assert callable(sigma_video.finetune) and callable(sigma_video.pretrain)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sigma_video.nope  # noqa: B018
