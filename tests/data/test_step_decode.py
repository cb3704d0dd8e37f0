"""Decoding in the training step (``data.decode_in = "step"``): the loader plans, the step
decodes — the same views and masks as decoding in the loader."""

import shutil

import pytest
import torch
from torch.utils.data import DataLoader

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.decode import FrameFolder, ImageFile, PyAVBackend
from sigma_video.data.randaugment import RandAugment
from sigma_video.data.skips import DataError
from sigma_video.data.step_decode import StepDecoder, decoded_in_step
from sigma_video.masks.builder import MaskConfig
from sigma_video.pretraining.config import load_pretrain_config
from sigma_video.pretraining.trainer import pretrain
from tests.data.test_dataset import CountingPyAV
from tests.pretraining.test_trainer import losses, tiny

CLIP = ClipConfig(num_frames=4, stride=3, size=48, num_sample=2, flip=True)
MASK = MaskConfig(grid=(2, 6, 6))


def mixed_records(sample_videos, tmp_path):
    """Videos of three sizes (QCIF to 1280×720), a frame folder and a still image."""
    import av
    from PIL import Image

    frames = tmp_path / "frames"
    frames.mkdir()
    with av.open(str(sample_videos["carphone_pristine"])) as container:
        for i, frame in enumerate(container.decode(video=0)):
            frame.to_image().save(frames / f"{i:05d}.jpg")
            if i == 11:
                break
    image = tmp_path / "still.png"
    Image.new("RGB", (80, 60), (10, 200, 30)).save(image)
    return [
        VideoRecord(str(sample_videos["carphone_pristine"]), 0),
        VideoRecord(str(sample_videos["bikes"]), 1),
        VideoRecord(str(sample_videos["bigbuckbunny"]), 2),
        VideoRecord(str(frames), 3, num_frames=12, is_frames=True),
        VideoRecord(str(image), 4),
    ]


@pytest.mark.parametrize("path", ["carphone_pristine", "bikes", "bigbuckbunny"])
def test_frame_size_is_the_decoded_size(sample_videos, path):
    backend = PyAVBackend()
    frames = backend.decode(str(sample_videos[path]), [0, 3])
    assert backend.frame_size(str(sample_videos[path])) == frames.shape[1:3]


def test_frame_size_of_frame_folders_and_images(tmp_path):
    from PIL import Image

    (tmp_path / "f").mkdir()
    Image.new("RGB", (40, 30)).save(tmp_path / "f" / "00000.png")
    assert FrameFolder().frame_size(str(tmp_path / "f")) == (30, 40)
    assert ImageFile().frame_size(str(tmp_path / "f" / "00000.png")) == (30, 40)


def test_step_decode_gives_the_loaders_views_and_masks_bit_for_bit(sample_videos, tmp_path):
    items = mixed_records(sample_videos, tmp_path)
    loader = VideoClips(items, CLIP, seed=5, mask=MASK)
    planner = VideoClips(items, CLIP, seed=5, mask=MASK, decode_in="step")
    decoder = StepDecoder(PyAVBackend())
    for epoch in (0, 1):
        keys = [(i, epoch) for i in range(len(items))]
        want = collate([loader[k] for k in keys])
        planned = collate([planner[k] for k in keys])
        assert planned["video"] is None and len(planned["plans"]) == len(items)
        got = decoder(planned)
        assert got["video"].shape == want["video"].shape == (10, 3, 4, 48, 48)
        assert torch.equal(got["video"], want["video"])
        assert torch.equal(got["mask"].masked, want["mask"].masked)
        assert torch.equal(got["label"], want["label"])
        assert got["skipped"] == []
    flips = [flip for p in planned["plans"] for _, flip in p.views]
    assert any(flips) and not all(flips)  # both kinds of view were compared


def test_plans_travel_through_loader_workers(sample_videos, tmp_path):
    items = mixed_records(sample_videos, tmp_path)[:2] * 2
    planner = VideoClips(items, CLIP, seed=1, mask=MASK, decode_in="step")
    batches = DataLoader(planner, batch_size=2, num_workers=1, collate_fn=collate)
    decoded = list(decoded_in_step(batches, StepDecoder(PyAVBackend())))
    want = collate([VideoClips(items, CLIP, seed=1, mask=MASK)[i] for i in (2, 3)])
    assert torch.equal(decoded[1]["video"], want["video"])


def test_a_file_that_fails_in_the_step_is_reported_and_stood_in_for(sample_videos, tmp_path):
    good, doomed = tmp_path / "good.mp4", tmp_path / "doomed.mp4"
    shutil.copy(sample_videos["carphone_pristine"], good)
    shutil.copy(sample_videos["carphone_pristine"], doomed)
    items = [VideoRecord(str(doomed), 0), VideoRecord(str(good), 1)]
    planner = VideoClips(items, CLIP, decode_in="step")
    batch = collate([planner[0], planner[1]])
    doomed.write_bytes(b"\x00" * 4096)  # corrupted after the loader planned it
    out = StepDecoder(PyAVBackend())(batch)
    assert [path for path, _ in out["skipped"]] == [str(doomed)]
    assert torch.equal(out["video"][:2], out["video"][2:])  # the good sample's views
    good.unlink()
    with pytest.raises(DataError, match="no sample of a batch could be decoded"):
        StepDecoder(PyAVBackend())(batch)
    decoded = decoded_in_step([batch, batch], StepDecoder(PyAVBackend()))  # prefetching
    with pytest.raises(DataError, match="no sample of a batch could be decoded"):
        next(decoded)


def test_frames_of_another_size_than_planned_are_a_decode_error(sample_videos, tmp_path):
    path = tmp_path / "v.mp4"
    shutil.copy(sample_videos["carphone_pristine"], path)
    planner = VideoClips([VideoRecord(str(path), 0)] * 2, CLIP, decode_in="step")
    batch = collate([planner[0], planner[1]])
    shutil.copy(sample_videos["bikes"], path)  # replaced by a video of another size
    with pytest.raises(DataError, match="the header said 144×176"):
        StepDecoder(PyAVBackend())(batch)


def test_step_decode_refuses_what_needs_pixels_in_the_loader(synth_root):
    with pytest.raises(ValueError, match=r"mask\.kind=mgm reads the codec"):
        load_pretrain_config("demo", ["data.decode_in=step", "mask.kind=mgm"])
    with pytest.raises(ValueError, match=r"mask\.flow\.source=raft"):
        load_pretrain_config("demo", ["data.decode_in=step", "mask.kind=mgmae"])
    with pytest.raises(ValueError, match=r"data\.decode_in must be one of"):
        load_pretrain_config("demo", ["data.decode_in=gpu"])
    clip = ClipConfig(num_frames=4, size=32, randaugment=RandAugment.parse("m7-n2"))
    with pytest.raises(ValueError, match="RandAugment"):
        VideoClips([VideoRecord("x.mp4", 0)], clip, decode_in="step")


def test_pretraining_with_step_decode_is_the_same_run(synth_root, tmp_path):
    log = lambda _: None  # noqa: E731
    steps = ("optim.max_steps=3", "data.workers=1")
    pretrain(tiny(synth_root, tmp_path / "loader", *steps), log=log)
    pretrain(tiny(synth_root, tmp_path / "step", *steps, "data.decode_in=step"), log=log)
    assert losses(tmp_path / "loader") == losses(tmp_path / "step")


def test_planning_opens_a_new_video_once_and_a_known_one_not_at_all(sample_videos):
    backend = CountingPyAV()
    record = VideoRecord(str(sample_videos["bikes"]))
    planner = VideoClips([record], CLIP, backend=backend, decode_in="step")
    first = planner[0]["plan"]
    assert backend.opens == 1  # its length and frame size from one open
    assert planner[(0, 1)]["plan"].frame_size == first.frame_size and backend.opens == 1
