"""``pretrain --init``: a new run starting from an official .pth, a checkpoint or a run."""

import argparse

import pytest
import torch

from sigma_video.cli import main
from sigma_video.config import save_config
from sigma_video.engine.checkpoint import list_checkpoints
from sigma_video.pretrainer import build_pretrainer
from sigma_video.pretraining.init import load_init
from sigma_video.pretraining.trainer import pretrain
from tests.pretraining.test_trainer import assert_same_weights, final_weights, tiny
from tests.reference import official_pretraining_layout


def model_of(config, seed=0):
    """The pretrainer a run of ``config`` builds, its weights drawn with ``seed``."""
    torch.manual_seed(seed)
    return build_pretrainer(config.resolved().model)


def official_file(config, path, seed):
    """An official-layout pretraining checkpoint (``{"model", "args", ...}``) of the model
    ``config`` describes, its weights drawn with ``seed``; returns our state dict of it."""
    ours = model_of(config, seed).state_dict()
    blob = {
        "model": official_pretraining_layout(ours),
        "epoch": 799,
        "args": argparse.Namespace(model="pretrain_videomae_tiny", num_frames=4),
    }
    torch.save(blob, path)
    return ours


def started_from(ours):
    """The weights after a step at lr 0: unchanged, but the prototypes unit-normalised (each
    step normalises them first, as the official code)."""
    key = "objective.prototypes.weight"
    return {**ours, key: torch.nn.functional.normalize(ours[key], dim=1)}


def test_a_run_starts_from_official_weights_with_a_fresh_schedule(synth_root, tmp_path, capsys):
    """The warm-up starts at lr 0, so the first step moves nothing: the first checkpoint of
    a one-step run holds the weights it was started from."""
    config = tiny(
        synth_root, tmp_path / "run", "optim.max_steps=1", "run.save_every=1", "optim.warmup_lr=0"
    )
    ours = official_file(config, tmp_path / "official.pth", seed=7)
    config_file = tmp_path / "tiny.json"
    save_config(config, config_file)
    assert (
        main(["pretrain", "--config", str(config_file), "--init", str(tmp_path / "official.pth")])
        == 0
    )
    assert f"initialised from {tmp_path / 'official.pth'} (0 of its tensors unused)" in (
        capsys.readouterr().out
    )
    assert_same_weights(final_weights(tmp_path / "run"), started_from(ours))
    # ... and from our own run (its latest checkpoint) into a new run folder
    second = tiny(
        synth_root,
        tmp_path / "second",
        "optim.max_steps=1",
        "run.save_every=1",
        "optim.warmup_lr=0",
    )
    second.run.init = str(tmp_path / "run")
    summary = pretrain(second, log=lambda _: None)
    assert summary["steps"] == 1 and len(summary["sessions"]) == 1
    assert_same_weights(
        final_weights(tmp_path / "second"), started_from(final_weights(tmp_path / "run"))
    )


def test_init_refuses_another_variant_or_size(synth_root, tmp_path, capsys):
    config = tiny(synth_root, tmp_path / "run")
    official_file(config, tmp_path / "k32.pth", seed=0)
    model = model_of(tiny(synth_root, tmp_path / "run", "model.objective.num_prototypes=16"))
    with pytest.raises(ValueError, match=r"another variant or size.*prototypes.*\(32, ") as err:
        load_init(model, tmp_path / "k32.pth")
    assert "\n" not in str(err.value)
    model = model_of(
        tiny(synth_root, tmp_path / "run", "model.target.kind=pixels", "model.objective.kind=l2")
    )
    with pytest.raises(ValueError, match="another variant or size"):
        load_init(model, tmp_path / "k32.pth")  # a SIGMA-MLP file into VideoMAE
    for missing, message in [
        (tmp_path / "nothing.pth", "no such file or folder"),
        (tmp_path, "neither an official .pth"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_init(model, missing)
    assert not list_checkpoints(tmp_path / "run")  # nothing was written
