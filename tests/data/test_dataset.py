import pytest
import torch
from torch.utils.data import DataLoader

from sigma_video.bench.like import write_like
from sigma_video.data.annotations import VideoRecord, read_list
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.decode import PyAVBackend
from sigma_video.data.skips import DataError, SkipCounter
from sigma_video.masks.builder import MaskConfig
from tests.data.test_decode import make_bad_files

SMALL = ClipConfig(num_frames=8, stride=2, size=64)


def records(root):
    return read_list(root / "train.csv", root=str(root))[0]


def test_clips_shape_label_and_determinism(synth_root):
    data = VideoClips(records(synth_root), SMALL, seed=3)
    item = data[5]
    assert item["video"].dtype == torch.uint8 and item["video"].shape == (1, 3, 8, 64, 64)
    assert item["label"] == data.records[5].label and item["index"] == 5 and item["skipped"] == []
    assert torch.equal(data[5]["video"], item["video"])  # same (seed, epoch, index)
    assert not torch.equal(data[(5, 1)]["video"], item["video"])  # next epoch differs
    other = VideoClips(records(synth_root), SMALL, seed=4)
    assert not torch.equal(other[5]["video"], item["video"])


def test_repeated_augmentation_shares_frames_with_different_crops(synth_root):
    clip = ClipConfig(num_frames=8, stride=2, size=64, num_sample=4)
    video = VideoClips(records(synth_root), clip)[0]["video"]
    assert video.shape == (4, 3, 8, 64, 64)
    assert len({v.float().sum().item() for v in video}) > 1  # not four copies


def test_bad_samples_are_replaced_logged_once_and_reported(tmp_path, sample_videos, caplog):
    bad = make_bad_files(tmp_path, sample_videos)
    items = [VideoRecord(str(p), 0) for p in bad.values()] + [
        VideoRecord(str(sample_videos["carphone_pristine"]), 1)
    ]
    data = VideoClips(items, SMALL, max_retries=50)
    for index in range(5):
        item = data[index]
        assert item["label"] == 1 and item["index"] == 5
        assert item["skipped"] and item["skipped"][0][0] == items[index].path
    data[3]  # random.mp4 again
    logged = [r for r in caplog.records if str(bad["random"]) in r.getMessage()]
    assert len(logged) == 1  # logged once, however often it is hit


def test_too_many_bad_in_a_row_stops_with_paths(tmp_path, sample_videos):
    bad = make_bad_files(tmp_path, sample_videos)
    data = VideoClips([VideoRecord(str(p)) for p in bad.values()], SMALL, max_retries=3)
    with pytest.raises(DataError, match=r"4 samples in a row.*mp4"):
        data[0]


def test_short_video_is_padded(tmp_path, sample_videos):
    clip = ClipConfig(num_frames=16, stride=10, size=32)  # needs 151 frames, has 120
    item = VideoClips([VideoRecord(str(sample_videos["carphone_pristine"]))], clip)[0]
    assert item["video"].shape == (1, 3, 16, 32, 32)


def test_loader_with_workers_survives_corrupt_files(tmp_path, synth_root, sample_videos):
    good = records(synth_root)[:6]
    bad = make_bad_files(tmp_path, sample_videos)
    mask = MaskConfig(grid=(4, 4, 4), ratio=0.75)
    data = VideoClips(good + [VideoRecord(str(p), 0) for p in bad.values()], SMALL, mask=mask)
    loader = DataLoader(data, batch_size=4, num_workers=2, collate_fn=collate, timeout=60)
    counter = SkipCounter(len(data), max_fraction=0.9)
    seen = 0
    for batch in loader:
        assert batch["video"].shape[1:] == (3, 8, 64, 64)
        assert batch["mask"].masked.shape == (len(batch["video"]), 4 * 12)
        counter.update(batch["skipped"])
        seen += len(batch["video"])
    assert seen == len(data) and len(counter.bad) == len(bad)


def test_collate_repeats_labels_and_stacks_reproducible_masks(synth_root):
    clip = ClipConfig(num_frames=8, stride=2, size=64, num_sample=2)
    data = VideoClips(records(synth_root), clip, mask=MaskConfig(grid=(4, 4, 4)))
    batch = collate([data[0], data[1]])
    labels = [data.records[0].label] * 2 + [data.records[1].label] * 2
    assert batch["video"].shape[0] == 4 and batch["label"].tolist() == labels
    assert batch["mask"].visible.shape == (4, 4 * 2)  # int(0.9 · 16) = 14 masked per slot
    again = collate([data[0], data[1]])
    assert torch.equal(again["mask"].masked, batch["mask"].masked)  # a function of the sample
    assert not torch.equal(batch["mask"].masked[0], batch["mask"].masked[2])


def test_clip_config_errors():
    with pytest.raises(ValueError, match="crop"):
        ClipConfig(crop="five")
    with pytest.raises(ValueError, match="num_sample"):
        ClipConfig(num_sample=0)


@pytest.fixture(scope="module")
def webm(tmp_path_factory):
    """A VP9 WebM shaped like SSv2's files: its header states no frame count."""
    return str(write_like("ssv2", tmp_path_factory.mktemp("webm"), count=1, seconds=2.0)[0])


class CountingPyAV(PyAVBackend):
    """The PyAV backend, counting its opens; ``opens_once=False`` counts a file's frames in
    one open and decodes in another (what the dataset did before)."""

    def __init__(self, opens_once: bool = True) -> None:
        super().__init__()
        self.opens_once, self.opens = opens_once, 0

    def _open(self, path):
        self.opens += 1
        return super()._open(path)


@pytest.mark.parametrize("kind", ["tube", "mgm"])  # mgm decodes with the codec's motion
def test_a_sample_opens_its_video_once_and_gets_the_same_clip(sample_videos, webm, kind):
    """A video the run has not met: one open per sample (the frame count read from the
    same container: an MP4's header, or a WebM's packets) and the same frames, crops and
    masks as counting first; a video met before: one open too (its length is known)."""
    names = ["bikes", "carphone_pristine"]
    found = [VideoRecord(str(sample_videos[n]), 1) for n in names] + [VideoRecord(webm, 2)]
    later = [VideoRecord(str(sample_videos["bikes"]), 0, start=10)]  # starts inside a file
    clip = ClipConfig(num_frames=8, stride=2, size=64, num_sample=2)
    mask = MaskConfig(grid=(4, 4, 4), kind=kind, ratio=0.75)
    once, twice = CountingPyAV(), CountingPyAV(opens_once=False)
    for records in (found, later):
        a = VideoClips(records, clip, backend=once, seed=5, mask=mask)
        b = VideoClips(records, clip, backend=twice, seed=5, mask=mask)
        for i in range(len(records)):
            once.opens = twice.opens = 0
            x, y = a[i], b[i]
            assert (once.opens, twice.opens) == (1, 2)
            assert torch.equal(x["video"], y["video"]) and torch.equal(
                x["mask"].masked, y["mask"].masked
            )
            assert a._lengths == b._lengths
        once.opens = 0
        a[(0, 1)]  # the next epoch: the length is known, the file opened to decode only
        assert once.opens == 1
