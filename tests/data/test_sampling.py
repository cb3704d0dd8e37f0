import random

import pytest

from sigma_video.data.sampling import (
    clip_indices,
    clip_span,
    random_clip_indices,
    segment_indices,
    uniform_clip_indices,
)


def test_clip_indices_and_padding_by_hand():
    assert clip_span(16, 4) == 61
    assert clip_indices(100, 4, 3, start=10) == [10, 13, 16, 19]
    assert clip_indices(5, 4, 2) == [0, 2, 4, 4]  # repeat the last frame
    assert clip_indices(5, 4, 2, pad="loop") == [0, 2, 4, 1]
    assert clip_indices(1, 3, 4) == [0, 0, 0]


def test_random_start_fits_and_covers_all_starts():
    rng = random.Random(0)
    starts = set()
    for _ in range(500):
        idx = random_clip_indices(70, 16, 4, rng)
        assert idx == list(range(idx[0], idx[0] + 61, 4)) and idx[-1] < 70
        starts.add(idx[0])
    assert starts == set(range(10))  # 70 - 61 + 1 possible starts, all reachable
    assert random_clip_indices(30, 16, 4, random.Random(1))[0] == 0  # too short: start at 0


def test_same_seed_same_clip():
    assert random_clip_indices(300, 16, 2, random.Random(7)) == random_clip_indices(
        300, 16, 2, random.Random(7)
    )


def test_uniform_clips():
    clips = uniform_clip_indices(100, 4, 2, num_clips=3)  # span 7, starts 0, 46.5->46, 93
    assert [c[0] for c in clips] == [0, 46, 93] and clips[2][-1] == 99
    assert uniform_clip_indices(100, 4, 2, num_clips=1)[0][0] == 46
    assert uniform_clip_indices(5, 4, 2, num_clips=2) == [[0, 2, 4, 4], [0, 2, 4, 4]]


def test_segments():
    assert segment_indices(16, 4) == [2, 6, 10, 14]  # middle of 0-3, 4-7, ...
    assert segment_indices(16, 4, position=0.0) == [0, 4, 8, 12]
    assert segment_indices(3, 6) == [0, 0, 1, 1, 2, 2]  # short video: repeats, all valid
    rng = random.Random(0)
    for _ in range(100):
        idx = segment_indices(40, 8, rng)
        assert all(5 * i <= f <= 5 * i + 4 for i, f in enumerate(idx))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: clip_indices(0, 4, 2), "no frames"),
        (lambda: clip_indices(10, 0, 2), "num_frames"),
        (lambda: clip_indices(10, 4, 2, pad="mirror"), "pad"),
        (lambda: uniform_clip_indices(10, 4, 2, 0), "num_clips"),
        (lambda: segment_indices(10, 4, position=1.0), "position"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
