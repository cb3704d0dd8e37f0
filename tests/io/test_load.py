"""``load_model``: one loader for every source, ``(model, ClipSpec)`` out; the deprecated
``(encoder, TrainConfig)`` wrappers keep working."""

import pytest
import torch

from sigma_video.engine.checkpoint import list_checkpoints, load_checkpoint
from sigma_video.engine.trainer import pretrain
from sigma_video.io import ClipSpec, load_model
from tests.engine.test_trainer import tiny


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
