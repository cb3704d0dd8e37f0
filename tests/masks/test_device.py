"""MGMAE masks made on the device from the seeds the loader draws: the same as the masks
the loader workers make from DIS flow."""

import numpy as np
import torch

from sigma_video.data.annotations import read_list
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.flow.sources import DISFlow
from sigma_video.masks.builder import MaskConfig, build_device_masks
from sigma_video.masks.mgmae import FlowMaskOptions


def test_loader_masks_are_per_view_reproducible_and_match_the_device_path(synth_root):
    records = read_list(synth_root / "train.csv", root=str(synth_root))[0]
    clip = ClipConfig(num_frames=8, stride=4, size=64, num_sample=2)
    grid = (4, 8, 8)
    raft = FlowMaskOptions(source="raft", weights="raft.pth")
    flow = VideoClips(records, clip, seed=3, mask=MaskConfig(grid, "mgmae", 0.75))
    seeds = VideoClips(records, clip, seed=3, mask=MaskConfig(grid, "mgmae", 0.75, raft))
    tube = VideoClips(records, clip, seed=3, mask=MaskConfig(grid, "tube", 0.75))
    a, b, t, s = flow[(5, 1)], flow[(5, 1)], tube[(5, 1)], seeds[(5, 1)]
    assert torch.equal(a["video"], t["video"])  # the same clip and crops, the same counts
    assert torch.equal(a["video"], s["video"])
    assert a["mask"].visible.shape == t["mask"].visible.shape == (2, 4 * 16)
    for view in a["mask"].visible:  # 16 of 64 per time slot, as the tube mask
        assert np.bincount((view // 64).numpy(), minlength=4).tolist() == [16] * 4
    assert torch.equal(a["mask"].masked, b["mask"].masked)
    assert s["mask"] is None and s["mask_seed"] == seeds[(5, 1)]["mask_seed"]  # made later
    assert not torch.equal(a["mask"].masked, t["mask"].masked)
    batch, planned = collate([a, flow[(6, 1)]]), collate([s, seeds[(6, 1)]])
    assert planned["mask_seed"].shape == (4,) and planned["mask"] is None
    # the device path (RAFT in training; DIS here) rebuilds the loader's masks from the seeds
    device = build_device_masks(seeds.mask, torch.device("cpu"), source=DISFlow())
    again = device(planned["video"], planned["mask_seed"])
    assert torch.equal(again.visible, batch["mask"].visible)
    assert torch.equal(again.masked, batch["mask"].masked)


def test_device_masks_with_decoder_masking(synth_root):
    records = read_list(synth_root / "train.csv", root=str(synth_root))[0]
    clip = ClipConfig(num_frames=8, stride=4, size=64, num_sample=1)
    raft = FlowMaskOptions(source="raft", weights="raft.pth")
    config = MaskConfig((4, 8, 8), "mgmae", 0.75, raft, decoder_ratio=0.5)
    planned = collate([VideoClips(records, clip, seed=3, mask=config)[(i, 1)] for i in (5, 6)])
    device = build_device_masks(config, torch.device("cpu"), source=DISFlow())
    mask = device(planned["video"], planned["mask_seed"])
    plain = build_device_masks(
        MaskConfig((4, 8, 8), "mgmae", 0.75, raft), torch.device("cpu"), source=DISFlow()
    )(planned["video"], planned["mask_seed"])
    assert torch.equal(mask.masked, plain.masked) and plain.decoded is None
    assert mask.decoded.shape == (2, 96) and mask.boolean().gather(1, mask.decoded).all()
    again = device(planned["video"], planned["mask_seed"])
    assert torch.equal(again.decoded, mask.decoded)
