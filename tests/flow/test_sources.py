"""Flow sources: a source that cannot run says so in one line, before anything trains."""

import pytest
import torch

from sigma_video.masks.mgmae import FlowMaskOptions


def test_flow_sources_fail_early_with_one_line(synth_root, tmp_path, capsys):
    from sigma_video.cli import main
    from sigma_video.flow.sources import check_flow_source

    with pytest.raises(ValueError, match=r"needs mask\.flow\.weights=FILE"):
        check_flow_source(FlowMaskOptions(source="raft"))
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
    options = FlowMaskOptions(source="raft", weights=str(weights))
    try:
        import torchvision  # noqa: F401
    except ImportError:
        from sigma_video.flow.sources import RAFTFlow

        with pytest.raises(ValueError, match="needs torchvision"):
            RAFTFlow(options.weights)
    else:  # pragma: no cover - this machine's CPU torch has no torchvision
        pytest.skip("torchvision is installed: the missing-torchvision error cannot be shown")
