"""``load_model``: one loader for every source, ``(model, ClipSpec)`` out."""

import pytest
import torch

from sigma_video.data.clip import ClipSpec
from sigma_video.engine.checkpoint import list_checkpoints, load_checkpoint
from sigma_video.io import load_model
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


def test_a_checkpoint_loads_with_nothing_beside_it(run, tmp_path):
    """A checkpoint folder moved away from its run, or its ``model.safetensors`` alone,
    builds the run's encoder from the header; a checkpoint whose header predates that
    loads through its run's config.json as before."""
    import shutil

    from safetensors.torch import load_file

    from sigma_video.files import save_tensors

    encoder, clip = load_model(run)
    checkpoint = list_checkpoints(run)[-1]
    shutil.copytree(checkpoint, tmp_path / "moved")
    shutil.copy(checkpoint / "model.safetensors", tmp_path / "model.safetensors")
    for source in (tmp_path / "moved", tmp_path / "model.safetensors"):
        loaded, loaded_clip = load_model(source)
        assert loaded_clip == clip and loaded.config == encoder.config
        assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in loaded.state_dict().items())
        with pytest.raises(ValueError, match="pretraining checkpoint: it has no classifier"):
            load_model(source, "classifier")

    old_run = tmp_path / "old"
    shutil.copytree(run, old_run)
    weights = old_run / "checkpoints" / checkpoint.name / "model.safetensors"
    save_tensors(load_file(str(weights)), weights, metadata={"step": "2"})  # an older header
    loaded, loaded_clip = load_model(weights.parent)
    assert loaded_clip == clip and torch.equal(loaded.pos_embed, encoder.pos_embed)
    headerless = tmp_path / "headerless"  # such a file away from its run: nothing says what
    headerless.mkdir()
    shutil.copy(weights, headerless / "model.safetensors")
    with pytest.raises(ValueError, match="load it from inside its run folder"):
        load_model(headerless)


def test_random_weights_are_those_a_pretraining_run_starts_from():
    from sigma_video.io.load import random_config
    from sigma_video.pretrainer import build_pretrainer

    config = random_config("demo")
    torch.manual_seed(3)
    started = build_pretrainer(config.resolved().model).encoder.state_dict()
    loaded = load_model("random:demo", seed=3)[0].state_dict()
    assert loaded.keys() == started.keys()
    assert all(torch.equal(loaded[k], started[k]) for k in started)


def test_a_sigma_dino_encoder_loads_without_the_dino_weights_file(synth_root, tmp_path):
    from sigma_video.models.dino import DINO_PRESETS, ImageViT

    dino = tmp_path / "dino_vits16.pth"
    torch.save(ImageViT(DINO_PRESETS["dino_vits16"]).state_dict(), dino)
    run = tmp_path / "run"
    options = [
        "model.target.kind=dino",
        "model.target.dino_arch=dino_vits16",
        f"model.target.dino_weights={dino}",
    ]
    pretrain(tiny(synth_root, run, "optim.max_steps=2", *options), log=lambda _: None)
    dino.unlink()  # the run is probed elsewhere: only its own checkpoints travel
    encoder, _ = load_model(run)
    weights, _ = load_checkpoint(list_checkpoints(run)[-1])
    state = encoder.state_dict()
    assert all(torch.equal(v, weights[f"encoder.{k}"]) for k, v in state.items())
