"""The generated multi-label and repetition-counting videos."""

import itertools
import random

import numpy as np
import pytest

from sigma_video.data.annotations import read_list, read_multilabel
from sigma_video.synth.spec import APPEARANCE_CLASSES
from sigma_video.synth.tasks import (
    TaskSynthConfig,
    blink_ranges,
    render_task_video,
    write_task_dataset,
)

CONFIG = TaskSynthConfig(num_train=6, num_val=3)
SWINGS = TaskSynthConfig(num_train=6, num_val=3, repetition="swing")


def test_multilabel_videos_show_exactly_their_classes():
    sizes = set()
    for index in range(12):
        rgb, ids, labels = render_task_video(CONFIG, "multilabel", "train", index)
        assert rgb.shape == (32, 96, 96, 3) and ids.shape == (32, 96, 96)
        assert 1 <= len(labels) <= 3 and list(labels) == sorted(set(labels))
        assert all(0 <= x < len(APPEARANCE_CLASSES) for x in labels)
        # one object id per class, each visible in every frame, never overlapping another
        present = set(np.unique(ids).tolist()) - {0}
        assert present == set(range(1, len(labels) + 1))
        for k in present:
            assert ((ids == k).sum(axis=(1, 2)) > 30).all()
        sizes.add(len(labels))
    assert sizes == {1, 2, 3}
    again = render_task_video(CONFIG, "multilabel", "train", 3)
    assert np.array_equal(again[0], render_task_video(CONFIG, "multilabel", "train", 3)[0])


def swings(ids: np.ndarray) -> int:
    """Full back-and-forth cycles of the object's centre: the turns of its projection on
    the main axis of its path, halved."""
    ys, xs = [], []
    for frame in ids:
        y, x = np.nonzero(frame == 1)
        ys.append(y.mean())
        xs.append(x.mean())
    path = np.stack([xs, ys], 1)
    path -= path.mean(0)
    axis = np.linalg.svd(path, full_matrices=False)[2][0]
    position = path @ axis
    step = np.diff(position)
    moving = step[np.abs(step) > 1e-3]
    turns = int((np.sign(moving[1:]) != np.sign(moving[:-1])).sum())
    return turns


def blinks(ids: np.ndarray, stride: int = 1) -> int:
    """Runs of frames (every ``stride``-th, from frame 0) in which the object is not seen."""
    seen = (ids[::stride] == 1).any(axis=(1, 2))
    return int((~seen[1:] & seen[:-1]).sum() + (not seen[0]))


@pytest.mark.parametrize("index", range(8))
def test_counting_videos_blink_their_count(index):
    _, ids, (count,) = render_task_video(CONFIG, "count", "val", index)
    assert 1 <= count <= CONFIG.max_count
    seen = (ids == 1).any(axis=(1, 2))
    assert seen[0] and seen[-1] and (~seen).sum() == CONFIG.blink_frames * count
    # a still object, drawn whole whenever it is seen
    areas = (ids == 1).sum(axis=(1, 2))[seen]
    assert areas.max() == areas.min() > 100
    # every blink is seen apart by a clip of 16 frames 2 apart, and hides exactly one frame
    # of the demo's clip (8 frames 4 apart), two of the 16-frame one
    assert blinks(ids) == blinks(ids, stride=2) == count
    assert (~seen[::4]).sum() == count and (~seen[::2]).sum() == 2 * count


def test_blink_ranges_fit_with_their_gap():
    for frames, repeats, length, gap in [(32, 4, 4, 2), (32, 1, 4, 2), (30, 3, 4, 2), (7, 1, 5, 1)]:
        for seed in range(50):
            ranges = blink_ranges(frames, repeats, length, gap, random.Random(seed))
            assert len(ranges) == repeats and ranges[0][0] >= 1 and ranges[-1][1] <= frames
            assert all(end - start == length for start, end in ranges)
            assert all(b[0] - a[1] >= gap for a, b in itertools.pairwise(ranges))
    with pytest.raises(ValueError, match="do not fit"):
        TaskSynthConfig(max_count=6)  # 32 // 6 = 5 frames per blink, 4 + 2 needed
    TaskSynthConfig(max_count=5)  # 6 frames: fits
    with pytest.raises(ValueError, match="repetition"):
        TaskSynthConfig(repetition="hop")


@pytest.mark.parametrize("index", range(8))
def test_swing_counting_videos_swing_their_count(index):
    _, ids, (count,) = render_task_video(SWINGS, "count", "val", index)
    assert 1 <= count <= SWINGS.max_count
    # N sine cycles over the video turn 2N times, give or take one at either end
    assert abs(swings(ids) - 2 * count) <= 1


def test_write_task_dataset_lists(tmp_path):
    root = write_task_dataset(tmp_path / "tasks", CONFIG, workers=1)
    multi = read_multilabel(root / "multilabel_train.csv")
    counts, _ = read_list(root / "count_val.csv")
    assert len(multi) == 6 and len(counts) == 3
    assert all(r.labels and (root / r.path).exists() for r in multi)
    assert all(1 <= r.label <= CONFIG.max_count for r in counts)
    expected = render_task_video(CONFIG, "count", "val", 0)[2]
    assert counts[0].label == expected[0]
    assert write_task_dataset(root, CONFIG) == root  # complete: kept as is
