"""FSDP2 (``run.parallel=fsdp``) against the single process: 2 gloo ranks train the same
weights as one process with the same global batch, with or without activation
checkpointing; a checkpoint saved on 2 ranks resumes on 1; clipping clips DTensor
gradients; a checkpoint of the other layout is refused in one line."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

from sigma_video.checkpoint_format import list_checkpoints
from sigma_video.config import save_config
from sigma_video.pretraining.trainer import pretrain
from tests.pretraining.test_trainer import losses, tiny


def torchrun(config, path, ranks, *args):
    save_config(config, path)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc_per_node={ranks}", "-m", "sigma_video", "pretrain", "--config", str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def weights_at(run_dir, step):
    return load_file(str(run_dir / "checkpoints" / f"step_{step:08d}" / "model.safetensors"))


def assert_close_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.slow
def test_fsdp_on_two_ranks_trains_what_one_process_does_and_resumes_on_one(synth_root, tmp_path):
    steps = ["optim.max_steps=6", "optim.warmup_epochs=0.25"]  # φ trains from step 4
    one = tiny(synth_root, tmp_path / "one", *steps)
    pretrain(one, log=lambda _: None)
    fsdp = tiny(synth_root, tmp_path / "fsdp", *steps, "optim.batch_size=2", "run.parallel=fsdp")
    torchrun(fsdp, tmp_path / "fsdp.json", 2)
    a, b = losses(tmp_path / "one"), losses(tmp_path / "fsdp")
    assert a.keys() == b.keys() and all(a[s] == pytest.approx(b[s], rel=1e-5) for s in a)
    assert_close_weights(weights_at(tmp_path / "one", 6), weights_at(tmp_path / "fsdp", 6))
    saved = list_checkpoints(tmp_path / "fsdp")[-1]
    assert (saved / "shards" / ".metadata").exists()  # DCP's sharded weights and AdamW state
    summary = json.loads((tmp_path / "fsdp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_in_sync"]
    # activation checkpointing under FSDP2 recomputes the same numbers
    ckpt = tiny(
        synth_root,
        tmp_path / "ckpt",
        *steps,
        "optim.batch_size=2",
        "run.parallel=fsdp",
        "model.grad_checkpointing=true",
    )
    torchrun(ckpt, tmp_path / "ckpt.json", 2)
    assert_close_weights(weights_at(tmp_path / "fsdp", 6), weights_at(tmp_path / "ckpt", 6))
    # saved on 2 ranks at step 2, resumed on 1 rank (the same global batch of 4)
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "fsdp", moved)
    for later in list_checkpoints(moved)[1:]:
        shutil.rmtree(later)
    again = tiny(synth_root, moved, *steps, "run.parallel=fsdp")
    pretrain(again, resume="auto", allow_changes=True, log=lambda _: None)
    assert_close_weights(weights_at(tmp_path / "one", 6), weights_at(moved, 6))


def test_clipping_clips_sharded_gradients_and_layouts_are_not_mixed(synth_root, tmp_path):
    from sigma_video.engine.checkpoint import Checkpointer
    from sigma_video.engine.loop import _clip
    from sigma_video.engine.parallel import is_sharded, shard
    from sigma_video.masks.builder import MaskSettings
    from sigma_video.models.config import EncoderSettings, ObjectiveSettings, PretrainerConfig
    from sigma_video.pretrainer import build_pretrainer, sample_mask

    config = PretrainerConfig(
        arch="vit_tiny",
        encoder=EncoderSettings(num_frames=4, img_size=32),
        objective=ObjectiveSettings(num_prototypes=8),
    )
    torch.manual_seed(0)
    plain = build_pretrainer(config)
    video = torch.randn(2, 3, 4, 32, 32)
    mask = sample_mask(MaskSettings(ratio=0.5), plain, video, torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(plain.parameters())
    Checkpointer(tmp_path / "ddp").save(1, plain, {"optimizer": optimizer})
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = shard(build_pretrainer(config), bf16=False)
        assert is_sharded(model)
        model(video, mask)[0].backward()
        before = _clip(model, 0.01)
        after = _clip(model, None)
        assert float(before) > 0.01 and float(after) == pytest.approx(0.01, rel=1e-5)
        sharded_optimizer = torch.optim.AdamW(model.parameters())
        with pytest.raises(ValueError, match=r"written with run\.parallel=ddp"):
            Checkpointer(tmp_path / "ddp").load(
                list_checkpoints(tmp_path / "ddp")[0], model, {"optimizer": sharded_optimizer}
            )
        path = Checkpointer(tmp_path / "fsdp").save(1, model, {"optimizer": sharded_optimizer})
    finally:
        dist.destroy_process_group()
    with pytest.raises(ValueError, match=r"written with run\.parallel=fsdp"):
        Checkpointer(tmp_path / "fsdp").load(path, plain, {"optimizer": optimizer})


def test_reshard_after_forward_keeps_the_numbers():
    """With ``reshard_after_forward`` each block holds only its shard between its forward
    and its backward (its parameters are DTensors again); without, it keeps the gathered
    weights. The loss and the gradients are the same."""
    from torch.distributed.tensor import DTensor

    from sigma_video.engine.parallel import full, shard
    from sigma_video.masks.builder import MaskSettings
    from sigma_video.models.config import EncoderSettings, ObjectiveSettings, PretrainerConfig
    from sigma_video.pretrainer import build_pretrainer, sample_mask

    config = PretrainerConfig(
        arch="vit_tiny",
        encoder=EncoderSettings(num_frames=4, img_size=32),
        objective=ObjectiveSettings(num_prototypes=8),
    )
    video = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    results = {}
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        for reshard in (True, False):
            torch.manual_seed(0)
            model = shard(build_pretrainer(config), bf16=False, reshard_after_forward=reshard)
            mask = sample_mask(MaskSettings(), model, video, torch.Generator().manual_seed(0))
            loss = model(video, mask)[0]
            between = isinstance(model.encoder.blocks[0].attn.qkv.weight, DTensor)
            loss.backward()
            grad = full(model.encoder.blocks[0].attn.qkv.weight.grad)
            results[reshard] = (between, loss.item(), grad)
    finally:
        dist.destroy_process_group()
    assert results[True][0] and not results[False][0]
    assert results[True][1] == results[False][1]
    assert torch.equal(results[True][2], results[False][2])


def test_fsdp_refuses_fp16_in_one_line():
    from sigma_video.pretraining.config import load_pretrain_config

    with pytest.raises(ValueError, match="fp16's grad scaler is not sharded"):
        load_pretrain_config("demo", ["run.parallel=fsdp", "run.precision=fp16"])
    with pytest.raises(ValueError, match=r"run\.parallel must be one of"):
        load_pretrain_config("demo", ["run.parallel=zero"])
