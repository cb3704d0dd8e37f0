"""Tar shards: writing a list as shards (bytes, labels, metadata, resumable, bad inputs),
reading them by index (decoded frames equal the files'), a truncated shard, the split over
ranks and workers, and a pretraining run from shards against the same run from the list."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DataLoader

import sigma_video.data.shards as shards_module
from sigma_video.data.annotations import VideoRecord, read_list, read_records
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.decode import DecodeError, get_backend
from sigma_video.data.shard_writer import parse_size, resized_size, write_shards
from sigma_video.data.shards import (
    ShardRecords,
    index_path,
    parse_address,
    read_shards,
    scan_shard,
)
from sigma_video.data.skips import DataError
from sigma_video.engine.sampler import RunSampler, epoch_order
from sigma_video.pretraining.trainer import pretrain
from tests.pretraining.test_trainer import assert_same_weights, final_weights, losses, tiny

quiet = lambda _: None  # noqa: E731


@pytest.fixture(scope="module")
def listed(synth_root):
    return read_list(synth_root / "train.csv", root=str(synth_root))[0]


@pytest.fixture(scope="module")
def shards(listed, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "train"
    write_shards(listed, out, shard_size=60_000)
    return out


def test_shards_hold_the_files_bytes_labels_and_metadata(listed, shards):
    manifest = json.loads((shards / "shards.json").read_text())
    assert manifest["samples"] == len(listed) == 16 and len(manifest["shards"]) > 2
    records = read_records(shards)
    assert isinstance(records, ShardRecords) and len(records) == 16
    with tarfile.open(shards / "000000.tar") as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile(names[1]).read())
        video = tar.extractfile(names[0]).read()
    assert names[:2] == ["000000000.mp4", "000000000.json"]
    assert video == Path(listed[0].path).read_bytes()  # the file's own bytes, not re-encoded
    assert meta["source"] == listed[0].path and meta["label"] == listed[0].label
    assert meta["frames"] > 0 and meta["width"] == meta["height"] == 96 and meta["fps"] > 0
    backend = get_backend("pyav")
    for i, (a, b) in enumerate(zip(listed, records, strict=True)):
        assert b.label == a.label
        if i % 5 == 0:
            frames = [0, 3, backend.num_frames(a.path) - 1]
            assert backend.num_frames(b.path) == backend.num_frames(a.path)
            assert np.array_equal(backend.decode(b.path, frames), backend.decode(a.path, frames))


def test_brace_names_and_a_scan_without_index_read_the_same(shards):
    manifest = json.loads((shards / "shards.json").read_text())
    last = len(manifest["shards"]) - 1
    braced = read_records(f"{shards}/{{000000..{last:06d}}}.tar")
    assert [r.path for r in braced] == [r.path for r in read_records(shards / "shards.json")]
    scanned = scan_shard(str(shards / "000001.tar"))
    indexed = json.loads((shards / "000001.index.json").read_text())
    assert scanned.keys == indexed["keys"] and scanned.offsets == indexed["offsets"]
    assert scanned.labels == indexed["labels"]


def test_writing_again_continues_after_the_complete_shards(listed, shards, tmp_path):
    again = tmp_path / "again"
    first = write_shards(listed[:9], again, shard_size=60_000)
    count = len(first["shards"])
    kept = {p.name: p.stat().st_mtime_ns for p in again.glob("*.tar")}
    last = again / first["shards"][-1]["name"]  # an interrupted job: the last shard half-done
    os.replace(last, last.with_suffix(".tar.partial"))
    (again / last.name.replace(".tar", ".index.json")).unlink()
    manifest = write_shards(listed, again, shard_size=60_000)
    assert manifest == json.loads((shards / "shards.json").read_text())
    for name, mtime in kept.items():
        if name != last.name and int(name[:6]) < count:
            assert (again / name).stat().st_mtime_ns == mtime  # not rewritten
    assert not list(again.glob("*.partial"))
    with pytest.raises(ValueError, match="another list"):
        write_shards(listed[3:], again, shard_size=60_000)
    edited = [*listed[:2], listed[5], *listed[3:]]  # one line changed inside the first shard
    with pytest.raises(ValueError, match="another list"):
        write_shards(edited, again, shard_size=60_000)
    with pytest.raises(ValueError, match="--resize-short None"):
        write_shards(listed, again, shard_size=60_000, resize_short=32)


def test_unreadable_inputs_are_listed_and_left_out(listed, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    records = [listed[0], VideoRecord(str(tmp_path / "gone.mp4")), VideoRecord(str(garbage))]
    manifest = write_shards([*records, listed[1]], tmp_path / "out")
    assert manifest["samples"] == 2
    assert [p for p, _ in manifest["skipped"]] == [records[1].path, records[2].path]
    assert [r.label for r in read_records(tmp_path / "out")] == [listed[0].label, listed[1].label]


def test_resize_short_reencodes_to_the_shorter_side(listed, tmp_path):
    assert resized_size(640, 480, 320) == (426, 320) and resized_size(480, 640, 320) == (320, 426)
    write_shards(listed[:2], tmp_path / "small", resize_short=32)
    records = read_records(tmp_path / "small")
    frames = get_backend("pyav").decode(records[0].path, [0, 1])
    assert frames.shape == (2, 32, 32, 3)
    with tarfile.open(tmp_path / "small" / "000000.tar") as tar:
        meta = json.loads(tar.extractfile("000000000.json").read())
    assert (meta["width"], meta["height"]) == (32, 32) and meta["source"] == listed[0].path


def test_a_truncated_shard_reads_up_to_the_cut_and_names_the_shard(shards, tmp_path):
    whole = (shards / "000000.tar").read_bytes()
    records = read_records(shards)
    index = json.loads((shards / "000000.index.json").read_text())
    cut = tmp_path / "000000.tar"
    cut.write_bytes(whole[: index["offsets"][-1] + 100])  # into the last sample's video
    assert len(scan_shard(str(cut)).keys) == len(index["keys"])  # headers of all are there
    backend = get_backend("pyav")
    moved = [r.path.replace(str(shards / "000000.tar"), str(cut)) for r in records[:3]]
    last = records.counts[0] - 1
    assert backend.decode(moved[0], [0]).shape[-1] == 3  # before the cut: read
    broken = records[last].path.replace(str(shards / "000000.tar"), str(cut))
    with pytest.raises(DecodeError) as err:
        backend.decode(broken, [0])
    assert err.value.path == str(cut) and "truncated shard" in err.value.reason
    assert parse_address(broken)[0] == str(cut)


def test_a_shard_lost_after_the_start_is_skipped_under_its_name(shards, tmp_path, monkeypatch):
    """A shard gone (with its index) after the run read shards.json, or an index that is
    not JSON: their samples are bad samples, replaced and reported under the shard's name,
    and the other shards are read."""
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    records = read_records(copy)
    (copy / "000001.tar").unlink()
    (copy / "000001.index.json").unlink()
    (copy / "000002.index.json").write_text("{not json")
    clips = VideoClips(records, ClipConfig(num_frames=4, stride=2, size=32), seed=1)
    assert clips[0]["skipped"] == []
    lost, damaged = clips[records.starts[1]], clips[records.starts[2]]
    assert lost["skipped"][0] == (str(copy / "000001.tar"), "shard not found")
    assert lost["video"].shape == (1, 3, 4, 32, 32)  # another sample stood in
    path, reason = damaged["skipped"][0]
    assert path == str(copy / "000002.tar") and reason.startswith("unreadable index")
    reads, read = [], shards_module.read_index
    monkeypatch.setattr(shards_module, "read_index", lambda s: reads.append(s) or read(s))
    again = clips[records.starts[1] + 1]  # the lost shard is not looked for again
    assert again["skipped"][0] == (str(copy / "000001.tar"), "shard not found")
    assert str(copy / "000001.tar") not in reads


def test_a_run_stops_when_its_damaged_shards_hold_too_many_samples(shards, synth_root, tmp_path):
    """A bad shard counts as all its samples against ``data.max_bad_fraction``, not as one
    file: a run whose damaged indexes hold most of its data stops, naming them."""
    copy = tmp_path / "copy"
    shutil.copytree(shards, copy)
    for index in sorted(copy.glob("*.index.json"))[1:]:
        index.write_text("{not json")
    config = tiny(synth_root, tmp_path / "run", "optim.max_steps=4", f"data.train={copy}")
    with pytest.raises(DataError, match=r"\d+ of 16 samples are unreadable .*unreadable index"):
        pretrain(config, log=quiet)


def test_shards_named_by_a_pipe_command_are_fetched_once_and_read(shards, tmp_path, monkeypatch):
    """``pipe:`` shards (no index beside a command: the fetched copy's headers are read)
    give the local shard's samples and frames; a command that fetches nothing is one line."""
    monkeypatch.setenv("SIGMA_VIDEO_SHARD_CACHE", str(tmp_path / "cache"))
    local = read_records(f"{shards}/000000.tar")
    piped = read_records(f"pipe:cat {shards}/000000.tar")
    assert [r.label for r in piped] == [r.label for r in local] and len(piped) > 1
    backend = get_backend("pyav")
    frames = backend.decode(piped[1].path, [0, 2])
    assert np.array_equal(frames, backend.decode(local[1].path, [0, 2]))
    assert len(list((tmp_path / "cache").glob("*.tar"))) == 1
    assert index_path("pipe:cat a/000001.tar") is None
    url = "https://host/a/000001.tar?sig=abc"
    assert index_path(url) == "https://host/a/000001.index.json?sig=abc"
    with pytest.raises(ValueError, match=r"pipe:cat /nowhere/000009.tar: cannot fetch"):
        read_records("pipe:cat /nowhere/000009.tar")
    assert not list((tmp_path / "cache").glob("*000009*.tar"))  # nothing cached


def test_clips_inside_a_video_keep_their_start_and_length(listed, tmp_path):
    clips = [replace(listed[0], start=5), replace(listed[1], start=2, num_frames=10), listed[2]]
    write_shards(clips, tmp_path / "clips")
    back = read_records(tmp_path / "clips")
    assert [(r.start, r.num_frames) for r in back] == [(5, None), (2, 10), (0, None)]
    scanned = scan_shard(str(tmp_path / "clips" / "000000.tar"))  # from the samples' JSON
    assert scanned.starts == [5, 2, 0] and scanned.lengths == [-1, 10, -1]


def test_ranks_and_workers_read_disjoint_samples_that_cover_the_epoch(shards):
    """Two ranks (the sampler's slices) × two loader workers each: every sample of the
    epoch once, no sample on two ranks."""
    clips = VideoClips(read_records(shards), ClipConfig(num_frames=4, stride=2, size=32), seed=1)
    seen = []
    for rank in (0, 1):
        sampler = RunSampler(16, 2, seed=1, batches_per_epoch=4, epochs=1, rank=rank, world_size=2)
        loader = DataLoader(clips, batch_size=2, sampler=sampler, num_workers=2, collate_fn=collate)
        seen.append([int(i) for batch in loader for i in batch["index"]])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(16))


@pytest.mark.slow
def test_two_gloo_ranks_with_two_workers_each_read_each_sample_once_per_epoch(shards, tmp_path):
    """``torchrun`` with 2 gloo ranks, the training loop's loader with 2 workers on each:
    over two epochs, the ranks' samples are disjoint and cover each epoch, the workers of a
    rank share its samples, and each rank reads its slices of the epoch's order."""
    out = tmp_path / "seen"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "tests.data.shard_ranks", str(shards), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    root = Path(__file__).parents[2]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = {}  # (rank, worker) -> [(epoch, index, shard)]
    for path in out.glob("rank*_worker*.txt"):
        rank, worker = map(int, re.findall(r"\d+", path.stem))
        rows = [line.split() for line in path.read_text().splitlines()]
        seen[rank, worker] = [(int(e), int(i), name) for e, i, name in rows]
    assert sorted(seen) == [(0, 0), (0, 1), (1, 0), (1, 1)]  # every worker of every rank read
    shard_names = {Path(s).name for s in json_shards(shards)}
    assert {name for rows in seen.values() for _, _, name in rows} == shard_names
    for epoch in (0, 1):
        per_rank = [
            [i for w in (0, 1) for e, i, _ in seen[rank, w] if e == epoch] for rank in (0, 1)
        ]
        assert not set(per_rank[0]) & set(per_rank[1])
        assert sorted(per_rank[0] + per_rank[1]) == list(range(16))
        order = epoch_order(16, seed=1, epoch=epoch)  # global batch 4: rank r takes 2 of each
        for rank in (0, 1):
            mine = [i for b in range(4) for i in order[4 * b + 2 * rank : 4 * b + 2 * rank + 2]]
            assert sorted(per_rank[rank]) == sorted(mine)
            workers = [{i for e, i, _ in seen[rank, w] if e == epoch} for w in (0, 1)]
            assert workers[0] and workers[1] and not workers[0] & workers[1]


def json_shards(folder):
    return [folder / s["name"] for s in json.loads((folder / "shards.json").read_text())["shards"]]


def test_pretraining_from_shards_equals_from_the_list_and_resumes_exactly(
    synth_root, shards, tmp_path
):
    """The same seed, samples and order: the same losses; stopped mid-epoch and resumed,
    the same weights as the run left alone."""
    from_list = tiny(synth_root, tmp_path / "list", "optim.max_steps=6")
    pretrain(from_list, log=quiet)
    from_shards = tiny(synth_root, tmp_path / "shards", "optim.max_steps=6", f"data.train={shards}")
    pretrain(from_shards, log=quiet)
    assert losses(tmp_path / "list") == losses(tmp_path / "shards")
    split = tiny(synth_root, tmp_path / "split", "optim.max_steps=3", f"data.train={shards}")
    pretrain(split, log=quiet)
    rest = tiny(synth_root, tmp_path / "split", "optim.max_steps=6", f"data.train={shards}")
    pretrain(rest, resume="auto", log=quiet)
    assert losses(tmp_path / "split") == losses(tmp_path / "shards")
    assert_same_weights(final_weights(tmp_path / "split"), final_weights(tmp_path / "shards"))


def test_missing_shards_are_refused_in_one_line(shards, synth_root, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    manifest = json.loads((shards / "shards.json").read_text())
    (copy / "shards.json").write_text(json.dumps(manifest))
    config = tiny(synth_root, tmp_path / "run", "optim.max_steps=1", f"data.train={copy}")
    with pytest.raises(ValueError, match=r"shards of .* do not exist \(16 of 16 samples"):
        pretrain(config, log=quiet)
    bad = tmp_path / "bad" / "shards.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable shard manifest"):
        read_shards(bad)


def test_the_shard_command(synth_root, tmp_path):
    out = tmp_path / "cli"
    run = [sys.executable, "-m", "sigma_video", "data", "shard", str(synth_root / "train.csv")]
    done = subprocess.run(
        [*run, "--output", str(out), "--shard-size", "100KB", "--jobs", "2"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 16 videos in" in done.stdout and (out / "shards.json").exists()
    bad = subprocess.run(
        [*run, "--output", str(out), "--shard-size", "lots"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "--shard-size must be a positive size" in bad.stderr
    assert parse_size("1GB") == 10**9 and parse_size("500 mb") == 5 * 10**8
