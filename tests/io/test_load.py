"""``load_model``: one loader for every source, ``(model, ClipSpec)`` out; the deprecated
``(encoder, PretrainConfig)`` wrappers keep working."""

import dataclasses

import pytest
import torch

from sigma_video.engine.checkpoint import list_checkpoints, load_checkpoint
from sigma_video.io import ClipSpec, load_model
from sigma_video.pretraining.trainer import pretrain
from tests.pretraining.test_trainer import tiny


@pytest.fixture(scope="module")
def run(synth_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("load") / "run"
    pretrain(tiny(synth_root, folder, "optim.max_steps=2"), log=lambda _: None)
    return folder


def test_a_run_its_checkpoints_and_random_presets(run, tmp_path):
    encoder, clip = load_model(run)
    weights, _ = load_checkpoint(list_checkpoints(run)[-1])
    assert torch.equal(
        encoder.blocks[0].attn.qkv.weight, weights["encoder.blocks.0.attn.qkv.weight"]
    )
    assert not encoder.training and clip == ClipSpec(num_frames=4, stride=2, size=32)
    view = clip.view(sampling="segments")
    assert (view.num_frames, view.stride, view.size, view.crop) == (4, 2, 32, "center")
    same, _ = load_model(list_checkpoints(run)[0] / "model.safetensors")  # stands for its folder
    assert same.config == encoder.config
    random_encoder, random_clip = load_model("random:demo")
    assert random_encoder.config.embed_dim == 192 and random_clip.size == 64
    assert load_model("random:vit_small")[1] == ClipSpec()  # a model name: 16 × 224²
    with pytest.raises(ValueError, match="neither a run directory"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="a pretraining run has no classifier"):
        load_model(run, "classifier")
    with pytest.raises(ValueError, match="kind must be one of"):
        load_model(run, "decoder")


def test_the_deprecated_wrappers_keep_their_return_types(run):
    import sigma_video
    from sigma_video.evaluation.loading import load_encoder
    from sigma_video.interop import reference_encoder  # noqa: F401 (still importable)

    encoder, config = sigma_video.load_encoder(run)
    assert config.data.size == 32 and config.run.output == str(run)  # the run's own config
    assert torch.equal(encoder.pos_embed, load_model(run)[0].pos_embed)
    _, preset = load_encoder("random:demo")
    assert preset.model.patch == 8  # the preset's config


def test_random_weights_are_those_a_pretraining_run_starts_from():
    from sigma_video.io.load import random_config
    from sigma_video.pretrainer import build_pretrainer

    config = random_config("demo")
    model = dataclasses.replace(
        config.model, num_frames=config.data.num_frames, img_size=config.data.size
    )
    torch.manual_seed(3)
    started = build_pretrainer(model).encoder.state_dict()
    loaded = load_model("random:demo", seed=3)[0].state_dict()
    assert loaded.keys() == started.keys()
    assert all(torch.equal(loaded[k], started[k]) for k in started)


def test_a_sigma_dino_encoder_loads_without_the_dino_weights_file(synth_root, tmp_path):
    from sigma_video.models.dino import DINO_PRESETS, ImageViT

    dino = tmp_path / "dino_vits16.pth"
    torch.save(ImageViT(DINO_PRESETS["dino_vits16"]).state_dict(), dino)
    run = tmp_path / "run"
    options = ["model.target=dino", "model.dino_arch=dino_vits16", f"model.dino_weights={dino}"]
    pretrain(tiny(synth_root, run, "optim.max_steps=2", *options), log=lambda _: None)
    dino.unlink()  # the run is probed elsewhere: only its own checkpoints travel
    encoder, _ = load_model(run)
    weights, _ = load_checkpoint(list_checkpoints(run)[-1])
    state = encoder.state_dict()
    assert all(torch.equal(v, weights[f"encoder.{k}"]) for k, v in state.items())
