"""The ``data``, ``optim`` and ``run`` keys of pretraining, each changed in a tiny run
(``tests.pretraining.test_trainer.tiny``) and compared with the same run without the change."""

import random
import types

import numpy as np
import pytest
import torch

import sigma_video.engine.loop as loop_module
import sigma_video.pretraining.trainer as trainer
from sigma_video.data.decode import available_backends
from sigma_video.engine.checkpoint import list_checkpoints, load_checkpoint
from sigma_video.pretrainer import SigmaPretrainer
from sigma_video.pretraining.trainer import load_records, pretrain
from tests.pretraining.test_trainer import losses, tiny

quiet = lambda _: None  # noqa: E731
STEPS = ("optim.max_steps=2", "run.save_every=1")  # checkpoints at steps 1 and 2


@pytest.fixture(scope="module")
def base(synth_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("base") / "run"
    pretrain(tiny(synth_root, run, *STEPS), log=quiet)
    return run


def optimizer_groups(run):
    return load_checkpoint(list_checkpoints(run)[-1])[1]["optimizer"]["param_groups"]


def checkpoint_names(run):
    return [p.name for p in list_checkpoints(run)]


def session(run, out):
    """What the session keys change in a run's folder and output."""
    return {
        "rows": list(losses(run)),
        "checkpoints": checkpoint_names(run),
        "tensorboard": any((run / "tensorboard").glob("events.out.tfevents.*")),
        "progress": "step 2/2 (100%) loss " in out,
        "betas": {tuple(g["betas"]) for g in optimizer_groups(run)},
    }


def test_run_keys_change_the_run_folder_and_output(synth_root, base, tmp_path, capsys):
    """tiny's settings: a row and a checkpoint each step, no TensorBoard, no progress lines,
    AdamW (0.9, 0.95); then the same run with them changed."""
    changes = (
        "run.log_every=2",
        "run.keep_last=1",
        "run.tensorboard=true",
        "run.progress=true",
        "optim.betas=0.8,0.9",
    )
    capsys.readouterr()
    pretrain(tiny(synth_root, tmp_path / "run", *STEPS, *changes), log=quiet)
    assert session(base, "") == {
        "rows": [1, 2],
        "checkpoints": ["step_00000001", "step_00000002"],
        "tensorboard": False,
        "progress": False,
        "betas": {(0.9, 0.95)},
    }
    assert session(tmp_path / "run", capsys.readouterr().out) == {
        "rows": [2],
        "checkpoints": ["step_00000002"],
        "tensorboard": True,
        "progress": True,
        "betas": {(0.8, 0.9)},
    }


def test_run_seed_changes_the_numbers(synth_root, base, tmp_path):
    pretrain(tiny(synth_root, tmp_path / "run", "optim.max_steps=1", "run.seed=1"), log=quiet)
    assert losses(tmp_path / "run")[1] != losses(base)[1]


@pytest.mark.parametrize(
    ("precision", "autocast", "scaled"),
    [("fp32", None, False), ("bf16", torch.bfloat16, False), ("fp16", torch.float16, True)],
)
def test_run_precision_sets_the_steps_autocast(tmp_path, precision, autocast, scaled):
    """``run.precision``: the dtype ``Loop.train_step`` autocasts to, and fp16's grad scaler."""
    from torch import nn

    from sigma_video.data.skips import SkipCounter
    from sigma_video.engine.config import OptimConfig
    from sigma_video.engine.context import Context
    from sigma_video.engine.distributed import DistInfo
    from sigma_video.engine.loop import open_loop
    from sigma_video.engine.plan import make_plan
    from sigma_video.pretraining.config import RunConfig

    model = nn.Linear(2, 2)
    optim = OptimConfig(batch_size=1, epochs=1, warmup_epochs=0)
    run = RunConfig(output=str(tmp_path), precision=precision, tensorboard=False, progress=False)
    optimizer = torch.optim.AdamW(model.parameters())
    loop = open_loop(
        model,
        optimizer,
        make_plan(optim, 4, 1),
        Context(torch.device("cpu"), DistInfo(), None, print),
        optim=optim,
        run=run,
        skips=SkipCounter(4, 0.05),
    )
    loop.close()
    precision = loop.precision
    assert precision.autocast_dtype == autocast and precision.scaler.is_enabled() == scaled


@pytest.fixture
def spies(monkeypatch):
    """What a run made: its training ``VideoClips``, its loaders' worker counts and the
    clip batches its model saw."""
    seen = types.SimpleNamespace(datasets=[], workers=[], shapes=[])

    class Clips(trainer.VideoClips):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.datasets.append(self)

    class Loader(loop_module.DataLoader):
        def __init__(self, *args, **kwargs):
            seen.workers.append(kwargs["num_workers"])
            super().__init__(*args, **kwargs)

    forward = SigmaPretrainer.forward

    def recorded(self, video, mask):
        seen.shapes.append(tuple(video.shape))
        return forward(self, video, mask)

    monkeypatch.setattr(trainer, "VideoClips", Clips)
    monkeypatch.setattr(loop_module, "DataLoader", Loader)
    monkeypatch.setattr(SigmaPretrainer, "forward", recorded)
    return seen


def test_data_keys_shape_the_training_clips(synth_root, tmp_path, spies):
    """``data.*`` from the config to the clips the model trains on (tiny's own: 4 frames 2
    apart, 32 px, multiscale crops, one view, no workers, decoded in the loader)."""
    changes = [
        "data.num_frames=8",
        "data.stride=3",
        "data.size=48",
        "data.crop=center",
        "data.num_sample=2",
        "data.workers=1",
        "data.time_limit=7",
        "data.decode_in=step",
    ]
    pretrain(tiny(synth_root, tmp_path / "run", "optim.max_steps=1", *changes), log=quiet)
    assert spies.shapes == [(4 * 2, 3, 8, 48, 48)]  # batch 4 × num_sample 2 views
    assert spies.workers == [1]
    dataset = spies.datasets[0]
    assert len(dataset) == 16 and dataset.records[0].path.startswith(str(synth_root))
    frames = dataset.frame_indices(dataset.records[0], random.Random(0))
    assert set(np.diff(frames)) == {3}
    assert dataset.backend.time_limit == 7
    item = dataset[0]  # decoded in the step: the loader only plans
    assert item["video"] is None and len(item["plan"].views) == 2
    boxes = {dataset[(0, epoch)]["plan"].views[0][0] for epoch in range(3)}
    assert len(boxes) == 1  # a centre crop every epoch (multiscale draws a box each time)


def test_data_train_and_data_root_choose_the_videos(synth_root, tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("videos/train/00001.mp4 0\nvideos/train/00002.mp4 1\n")  # relative
    for root in (synth_root, tmp_path):  # without data.data_root: beside the list
        config = tiny(synth_root, tmp_path / "run", f"data.train={listing}")
        config.data.data_root = None if root == tmp_path else str(root)
        paths = [r.path for r in load_records(config, log=quiet)]
        assert paths == [f"{root}/videos/train/0000{i}.mp4" for i in (1, 2)]


def test_data_backend_names_the_decoder(synth_root, tmp_path, spies):
    config = tiny(synth_root, tmp_path / "run", "optim.max_steps=1", "data.backend=torchcodec")
    if "torchcodec" not in available_backends():
        with pytest.raises(ValueError, match="video backend 'torchcodec' is not installed"):
            pretrain(config, log=quiet)
        return
    pretrain(config, log=quiet)  # pragma: no cover - where torchcodec is installed
    assert spies.datasets[0].backend.name == "torchcodec"


def test_max_bad_fraction_lets_a_list_with_missing_files_through(synth_root, tmp_path):
    listing = tmp_path / "train.csv"
    good = [f"{synth_root}/videos/train/{i:05d}.mp4 0" for i in range(4)]
    listing.write_text("\n".join(good + [f"gone_{i}.mp4 0" for i in range(11)]) + "\n")
    config = tiny(synth_root, tmp_path / "run", f"data.train={listing}")
    with pytest.raises(ValueError, match="11 of 15 files"):
        load_records(config, log=quiet)
    lines = []
    config = tiny(
        synth_root, tmp_path / "run", f"data.train={listing}", "data.max_bad_fraction=0.8"
    )
    assert len(load_records(config, log=lines.append)) == 15
    assert lines and lines[0].startswith("warning: 11 of 15 files")


def test_run_device(synth_root):
    from sigma_video.engine.device import start_device

    config = tiny(synth_root, "unused", "run.device=cpu")
    assert start_device(config.run)[0] == torch.device("cpu")
    config.run.device = "cuda"
    if torch.cuda.is_available():
        assert start_device(config.run)[0].type == "cuda"
    else:
        with pytest.raises(ValueError, match=r"run\.device=cuda but this machine has no CUDA"):
            start_device(config.run)


@pytest.mark.parametrize("tf32", [False, True])
def test_run_tf32_sets_the_cuda_matmul_precision(synth_root, monkeypatch, tf32):
    """``run.tf32`` on a CUDA device (on the CPU there is nothing to set)."""
    import sigma_video.engine.device as device_module

    monkeypatch.setattr(device_module, "resolve_device", lambda name: torch.device("cuda"))
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not tf32
        device_module.start_device(tiny(synth_root, "unused", f"run.tf32={str(tf32).lower()}").run)
        assert torch.backends.cuda.matmul.allow_tf32 is tf32
        assert torch.backends.cudnn.allow_tf32 is tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
