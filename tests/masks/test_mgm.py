"""Motion-guided masks from codec motion vectors (MGM): per-tube motion and the mask by hand,
on real moving objects, and in the loader."""

import random

import numpy as np
import pytest
import torch

from sigma_video.data.collate import collate
from sigma_video.data.decode import PyAVBackend
from sigma_video.masks.mgm import motion_guided_mask, tube_motion
from sigma_video.masks.tube import tube_mask
from sigma_video.synth.render import render
from sigma_video.synth.spec import SynthConfig, video_spec
from sigma_video.synth.write import write_mp4


def test_tube_motion_is_the_mean_per_tube():
    motion = torch.zeros(4, 4, 4)
    motion[0, :2, :2] = 4.0  # one pixel-block of tube (0, 0, 0) at full motion ...
    motion[1, :2, :2] = 2.0  # ... the other frame of the tube at half
    got = tube_motion(motion, tubelet=2, patch=2)
    assert got.shape == (2, 2, 2) and got[0, 0, 0] == 3.0 and got.sum() == 3.0
    with pytest.raises(ValueError, match="does not tile"):
        tube_motion(torch.zeros(3, 4, 4), 2, 2)


def test_motion_guided_mask_hides_the_most_moving_tubes_per_slot():
    motion = torch.zeros(2, 3, 3)
    motion[0, 0, 0], motion[0, 2, 2] = 5.0, 4.0
    motion[1, 1, 1], motion[1, 0, 2] = 1.0, 9.0
    mask = motion_guided_mask(motion, 2 / 9 + 1e-9, random.Random(0))  # 2 of 9 per slot
    assert mask.masked[0].tolist() == [0, 8, 9 + 2, 9 + 4]
    assert mask.visible.shape == (1, 14) and mask.num_tokens == 18
    again = motion_guided_mask(motion, 2 / 9 + 1e-9, random.Random(0))
    assert torch.equal(again.masked, mask.masked)  # a pure function of the rng
    static = motion_guided_mask(torch.zeros(2, 3, 3), 0.5, random.Random(1))
    assert static.masked.shape == (1, 8)  # no motion: as many, placed at random
    with pytest.raises(ValueError, match="open interval"):
        motion_guided_mask(motion, 1.0, random.Random(0))


def test_codec_motion_puts_the_masks_on_the_moving_object(tmp_path):
    """Real H.264 motion vectors of the generated shapes: the motion-guided mask hides the
    travelling object's tubes far more often than tube masking does."""
    config = SynthConfig(distractor_prob=0.0)
    backend = PyAVBackend()
    indices = list(range(0, 32, 4))  # 8 frames, stride 4
    on_object = {"mgm": [], "tube": []}
    rng = random.Random(0)
    found = 0
    for index in range(40):
        spec = video_spec(config, "val", index)
        if spec.motion >= 4:  # the travelling classes move the most
            continue
        rgb, ids = render(spec, config.frames, config.size)
        path = tmp_path / f"{index}.mp4"
        write_mp4(path, rgb, config.fps)
        frames, motion = backend.decode_motion(str(path), indices)
        assert frames.shape == (8, 96, 96, 3) and motion.shape == (8, 96, 96)
        object_tubes = tube_motion(torch.from_numpy((ids[indices] == 1).astype(np.float32)), 2, 16)
        on = (object_tubes > 0.25).flatten()
        moving = tube_motion(torch.from_numpy(motion), 2, 16)
        for name, mask in (
            ("mgm", motion_guided_mask(moving, 0.25, rng)),
            ("tube", tube_mask(1, tuple(moving.shape), 0.25)),
        ):
            on_object[name].append(float(on[mask.masked[0]].float().mean()))
        found += 1
        if found == 6:
            break
    mgm, tube = np.mean(on_object["mgm"]), np.mean(on_object["tube"])
    assert mgm > 2 * tube and mgm > 0.5, (mgm, tube)


def test_the_loader_makes_motion_guided_masks_per_view(synth_root, caplog):
    """``mask = "mgm"`` in the loader: the tube mask's count per view, a pure function of
    the sample (resume-exact), different from tube masks; a frame folder (no motion
    vectors) falls back to tube masks with one warning."""
    from sigma_video.data.annotations import VideoRecord, read_list
    from sigma_video.data.dataset import ClipConfig, VideoClips
    from sigma_video.masks.builder import MaskConfig

    records = read_list(synth_root / "train.csv", root=str(synth_root))[0]
    clip = ClipConfig(num_frames=8, stride=4, size=64, num_sample=2)
    grid = (4, 8, 8)
    mgm = VideoClips(records, clip, seed=3, mask=MaskConfig(grid, "mgm", 0.75))
    tube = VideoClips(records, clip, seed=3, mask=MaskConfig(grid, "tube", 0.75))
    a, b, t = mgm[(5, 1)], mgm[(5, 1)], tube[(5, 1)]
    assert torch.equal(a["video"], t["video"])  # the same clip and crops ...
    assert a["mask"].masked.shape == t["mask"].masked.shape == (2, 4 * 48)  # ... and counts
    assert torch.equal(a["mask"].masked, b["mask"].masked)
    assert not torch.equal(a["mask"].masked, t["mask"].masked)
    folder = synth_root / "davis" / "JPEGImages" / "480p"
    first = sorted(folder.iterdir())[0]
    frames = VideoRecord(str(first), num_frames=len(list(first.iterdir())), is_frames=True)
    still = VideoClips([frames], clip, mask=MaskConfig(grid, "mgm", 0.75))
    with caplog.at_level("WARNING"):
        item, again = still[(0, 0)], still[(0, 1)]
    assert item["mask"].masked.shape == (2, 4 * 48) and again["mask"] is not None
    assert item["without_motion"] and not a["without_motion"] and not t["without_motion"]
    assert collate([item, a, again])["without_motion"] == 2  # counted for the summary
    warnings = [r for r in caplog.records if "exports no motion vectors" in r.getMessage()]
    assert len(warnings) == 1


def test_pretraining_with_motion_guided_masks(synth_root, tmp_path):
    from sigma_video.pretraining.trainer import pretrain
    from tests.pretraining.test_trainer import tiny

    config = tiny(synth_root, tmp_path / "run", "mask.kind=mgm", "optim.max_steps=3")
    summary = pretrain(config, log=lambda _: None)
    assert summary["steps"] == 3 and np.isfinite(summary["loss_last"])
    assert summary["samples_without_motion"] == 0  # every generated clip moves
