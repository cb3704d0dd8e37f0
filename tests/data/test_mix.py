"""Sources mixed by weight: the slots per epoch by hand, the shares a run's sampler draws
within sampling error, every sample of a down-weighted source reached over epochs, the
config forms, and a pretraining run over a list and shards."""

import math

import pytest

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.config import DataConfig
from sigma_video.data.mix import MixedRecords, Source, record_at, slot_counts
from sigma_video.data.shard_writer import write_shards
from sigma_video.engine.sampler import epoch_order
from sigma_video.pretraining.config import load_pretrain_config
from sigma_video.pretraining.trainer import pretrain
from tests.pretraining.test_trainer import tiny


def records(name, count):
    return [VideoRecord(f"{name}/{i}.mp4", label=i) for i in range(count)]


def test_slots_by_hand():
    assert slot_counts([100, 100], [1, 1]) == [100, 100]
    assert slot_counts([10, 90], [0.5, 0.5]) == [50, 50]
    # 0.335 · 7 = 2.345, 0.665 · 7 = 4.655: floors 2 + 4, the remaining slot to the larger part
    assert slot_counts([3, 4], [0.335, 0.665]) == [2, 5]
    assert slot_counts([1, 1, 1], [1, 1, 1]) == [1, 1, 1]
    with pytest.raises(ValueError, match="at least one sample"):
        slot_counts([0, 4], [1, 1])


def test_a_runs_shares_hold_within_sampling_error():
    """The first 600 samples of an epoch in the sampler's order: each source's count within
    4 binomial standard deviations of its weight's share."""
    mixed = MixedRecords([records("a", 300), records("b", 1700)], [0.7, 0.3], seed=3)
    assert len(mixed) == 2000 and mixed.slots == [1400, 600]
    for epoch in range(3):
        drawn = epoch_order(len(mixed), 3, epoch)[:600]
        from_a = sum(record_at(mixed, i, epoch).path.startswith("a/") for i in drawn)
        sigma = math.sqrt(600 * 0.7 * 0.3)
        assert abs(from_a - 420) < 4 * sigma, (epoch, from_a)


def test_an_up_weighted_source_repeats_and_a_down_weighted_one_turns_over():
    mixed = MixedRecords([records("a", 10), records("b", 30)], [0.5, 0.5], seed=0)
    assert mixed.slots == [20, 20]
    one_epoch = [mixed.at(i, 0).path for i in range(40)]
    assert sorted(p for p in one_epoch if p.startswith("a/")) == sorted(
        f"a/{i}.mp4" for i in range(10) for _ in range(2)
    )  # each of a's 10 samples twice
    seen_b = {mixed.at(i, e).path for e in range(3) for i in range(20, 40)}
    assert seen_b == {f"b/{i}.mp4" for i in range(30)}  # all of b within 1.5 epochs
    first_b = [mixed.at(i, 0).path for i in range(20, 40)]
    assert len(set(first_b)) == 20  # no repeats while b has unseen samples
    again = MixedRecords([records("a", 10), records("b", 30)], [0.5, 0.5], seed=0)
    assert [again.at(i, 1).path for i in range(40)] == [mixed.at(i, 1).path for i in range(40)]
    other = MixedRecords([records("a", 10), records("b", 30)], [0.5, 0.5], seed=1)
    assert [other.at(i, 1).path for i in range(40)] != [mixed.at(i, 1).path for i in range(40)]


def test_the_config_forms():
    typed = load_pretrain_config("demo", ["data.sources=x/train.csv=0.7,s3://b/shards.json=0.3"])
    assert typed.data.sources == (Source("x/train.csv", 0.7), Source("s3://b/shards.json", 0.3))
    # the demo's closing probe report is for the embedded dataset only
    assert load_pretrain_config("demo").data.embedded and not typed.data.embedded
    with pytest.raises(ValueError, match="path=weight"):
        load_pretrain_config("demo", ["data.sources=x/train.csv"])
    with pytest.raises(ValueError, match="weight of x must be > 0"):
        Source("x", 0)
    with pytest.raises(ValueError, match=r"data\.train or data\.sources"):
        DataConfig(train="a.csv", sources=(Source("b.csv"),))


def test_a_run_mixes_a_list_and_shards(synth_root, tmp_path):
    from sigma_video.data.annotations import read_list

    listed = read_list(synth_root / "train.csv", root=str(synth_root))[0]
    write_shards(listed[:8], tmp_path / "shards")
    lines = []
    config = tiny(synth_root, tmp_path / "run", "optim.max_steps=2")
    config.data.train = None
    config.data.sources = (
        Source(str(synth_root / "train.csv"), 0.25),
        Source(str(tmp_path / "shards"), 0.75),
    )
    summary = pretrain(config, log=lines.append)
    assert summary["sources"][str(tmp_path / "shards")] == {
        "weight": 0.75,
        "videos": 8,
        "per_epoch": 18,  # 0.75 of 16 + 8 = 24 samples
        "passes_per_epoch": 2.25,
    }
    assert summary["sources"][str(synth_root / "train.csv")]["per_epoch"] == 6
    assert any(line.startswith(f"source {tmp_path / 'shards'}: 8 videos") for line in lines)
