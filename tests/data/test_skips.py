import pytest

from sigma_video.data.skips import DataError, SkipCounter


def test_skip_counter_stops_when_share_exceeded():
    counter = SkipCounter(total=100, max_fraction=0.05, min_count=2)
    counter.update([("a.mp4", "x")] * 10)  # the same file many times counts once
    counter.update([("b.mp4", "y"), ("c.mp4", "z"), ("d.mp4", "z"), ("e.mp4", "z")])
    assert "5 bad file(s)" in counter.summary()
    with pytest.raises(DataError, match=r"6 of 100 .*a.mp4: x"):
        counter.update([("f.mp4", "w")])


def test_a_bad_shard_counts_as_all_its_samples():
    counter = SkipCounter(total=100, max_fraction=0.05, samples_of=lambda p: {"s.tar": 8}.get(p, 1))
    counter.update([("s.tar", "shard not found")] * 3)
    assert counter.summary() == "1 bad file(s) holding 8 samples skipped (3 replacement(s))"
    with pytest.raises(DataError, match=r"11 of 100 samples are unreadable"):
        counter.update([("x.mp4", "y"), ("s2.tar", "z"), ("w.mp4", "v")])
