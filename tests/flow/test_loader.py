"""MGMAE masks in the data pipeline: made in the loader workers from DIS flow, the same on
the device path, and a short pretraining run."""

import numpy as np
import pytest
import torch

from sigma_video.data.annotations import read_list
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, MaskConfig, VideoClips
from sigma_video.flow.device import DeviceFlowMasks
from sigma_video.flow.sources import DISFlow
from sigma_video.pretrainer import PretrainerConfig


def test_loader_masks_are_per_view_reproducible_and_match_the_device_path(synth_root):
    records = read_list(synth_root / "train.csv", root=str(synth_root))[0]
    clip = ClipConfig(num_frames=8, stride=4, size=64, num_sample=2)
    grid = (4, 8, 8)
    flow = VideoClips(records, clip, seed=3, mask=MaskConfig(grid, "mgmae", 0.75))
    tube = VideoClips(records, clip, seed=3, mask=MaskConfig(grid, "tube", 0.75))
    a, b, t = flow[(5, 1)], flow[(5, 1)], tube[(5, 1)]
    assert torch.equal(a["video"], t["video"])  # the same clip and crops, the same counts
    assert a["mask"].visible.shape == t["mask"].visible.shape == (2, 4 * 16)
    for view in a["mask"].visible:  # 16 of 64 per time slot, as the tube mask
        assert np.bincount((view // 64).numpy(), minlength=4).tolist() == [16] * 4
    assert torch.equal(a["mask"].masked, b["mask"].masked) and a["mask_seed"] == b["mask_seed"]
    assert not torch.equal(a["mask"].masked, t["mask"].masked)
    batch = collate([a, flow[(6, 1)]])
    assert batch["mask_seed"].shape == (4,)
    # the device path (RAFT in training; DIS here) rebuilds the loader's masks from the seeds
    device = DeviceFlowMasks(flow.mask, torch.device("cpu"), source=DISFlow())
    again = device(batch["video"], batch["mask_seed"])
    assert torch.equal(again.visible, batch["mask"].visible)
    assert torch.equal(again.masked, batch["mask"].masked)


def test_flow_sources_fail_early_with_one_line(synth_root, tmp_path, capsys):
    from sigma_video.cli import main
    from sigma_video.flow.sources import check_flow_source

    with pytest.raises(ValueError, match=r"needs model\.flow_weights=FILE"):
        check_flow_source(PretrainerConfig(mask="mgmae", flow="raft").flow_options)
    # the paper preset names a weights file the user must provide: one line, nothing trained
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        main(
            [
                "pretrain",
                "--config",
                "vit_b_ssv2_mlp_mgmae",
                "--data",
                str(synth_root / "train.csv"),
                "--output",
                str(out),
            ]
        )
    assert "raft_small_C_T_V2-01064c6d.pth: no such file" in capsys.readouterr().err
    assert not out.exists()
    weights = tmp_path / "raft.pth"
    torch.save({"w": torch.zeros(1)}, weights)
    config = PretrainerConfig(mask="mgmae", flow="raft", flow_weights=str(weights))
    try:
        import torchvision  # noqa: F401
    except ImportError:
        from sigma_video.flow.sources import RAFTFlow

        with pytest.raises(ValueError, match="needs torchvision"):
            RAFTFlow(config.flow_weights)
    else:  # pragma: no cover - this machine's CPU torch has no torchvision
        pytest.skip("torchvision is installed: the missing-torchvision error cannot be shown")


def test_pretraining_with_flow_guided_masks(synth_root, tmp_path):
    from sigma_video.pretraining.trainer import pretrain
    from tests.pretraining.test_trainer import tiny

    config = tiny(synth_root, tmp_path / "run", "model.mask=mgmae", "optim.max_steps=3")
    summary = pretrain(config, log=lambda _: None)
    assert summary["steps"] == 3 and np.isfinite(summary["loss_last"])
