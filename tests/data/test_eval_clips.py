import shutil

import pytest
import torch

from sigma_video.data.annotations import VideoRecord, read_list
from sigma_video.data.dataset import ClipConfig
from sigma_video.data.decode import DecodeError
from sigma_video.data.eval_clips import EvalClips

SMALL = ClipConfig(num_frames=8, stride=2, size=64)


def records(root):
    return read_list(root / "train.csv", root=str(root))[0]


def test_eval_clips(synth_root, tmp_path):
    data = EvalClips(records(synth_root)[:2], SMALL, num_clips=2, num_crops=3)
    item = data[1]
    assert item["video"].shape == (6, 3, 8, 64, 64)
    segments = EvalClips(
        records(synth_root)[:1], ClipConfig(num_frames=8, size=64, sampling="segments"), num_clips=2
    )
    views = segments[0]["video"]
    assert views.shape == (2, 3, 8, 64, 64) and not torch.equal(views[0], views[1])
    missing = tmp_path / "gone.mp4"
    shutil.copy(synth_root / "videos" / "train" / "00000.mp4", missing)
    data = EvalClips([VideoRecord(str(missing))], SMALL)
    missing.unlink()
    with pytest.raises(DecodeError, match="not found"):
        data[0]
