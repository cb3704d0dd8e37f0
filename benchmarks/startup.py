"""How long a run over a million samples takes to reach its first batch: a 1 M-line list
against a 1 M-sample shard manifest (1 000 shards × 1 000 samples), with generated
metadata (the videos need not exist: only what happens before decoding is timed).

    python benchmarks/startup.py [--samples 1000000] [--per-shard 1000] [--dir /tmp/startup]

Each phase as a run makes it: reading the source (``read_records``), the existence check
(``refuse_missing``: one stat per file of a list, one per shard of shards), building the
dataset, the epoch's order (``epoch_order``), and resolving the first global batch's 256
records (a shard's index is read the first time one of its samples is asked for). Prints a
Markdown table and the resident memory each source adds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

from sigma_video.data.check import refuse_missing
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.shards import ShardIndex, index_path
from sigma_video.engine.sampler import epoch_order


def write_list(path: Path, samples: int) -> None:
    with open(path, "w") as out:
        for i in range(samples):
            out.write(f"videos/{i // 1000:04d}/{i:07d}.mp4 {i % 400}\n")


def write_shards(folder: Path, samples: int, per_shard: int) -> None:
    shards = []
    for number in range((samples + per_shard - 1) // per_shard):
        count = min(per_shard, samples - number * per_shard)
        name = f"{number:06d}.tar"
        (folder / name).touch()  # the manifest's shards exist; their bytes are not read
        keys = [f"{number * per_shard + i:09d}" for i in range(count)]
        index = ShardIndex(
            keys,
            [512 + 2_000_000 * i for i in range(count)],
            [1_999_000] * count,
            [i % 400 for i in range(count)],
        )
        Path(index_path(str(folder / name))).write_text(json.dumps(index.to_json()))
        shards.append({"name": name, "samples": count})
    manifest = {"format": "sigma-video shards 1", "samples": samples, "shards": shards}
    (folder / "shards.json").write_text(json.dumps(manifest))


def rss_mib() -> float:
    """This process's resident memory now (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(source: Path, root: str | None) -> dict[str, float]:
    from sigma_video.data.annotations import read_records

    times, before = {}, rss_mib()
    t = time.perf_counter()
    records = read_records(source, root)
    times["read"] = time.perf_counter() - t
    t = time.perf_counter()
    with contextlib.suppress(ValueError):  # files that do not exist: the stats are timed
        refuse_missing(records, str(source), 1.0, log=lambda _: None)
    times["check"] = time.perf_counter() - t
    t = time.perf_counter()
    clips = VideoClips(records, ClipConfig(num_frames=16, stride=4, size=224))
    times["dataset"] = time.perf_counter() - t
    t = time.perf_counter()
    order = epoch_order(len(clips), 0, 0)
    times["order"] = time.perf_counter() - t
    t = time.perf_counter()
    first = [clips.records[i] for i in order[:256]]
    times["first batch"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    times["memory MiB"] = rss_mib() - before
    assert len(first) == 256
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--per-shard", type=int, default=1000)
    parser.add_argument("--dir", default="/tmp/sigma-video-startup")
    args = parser.parse_args()
    folder = Path(args.dir)
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    write_list(folder / "train.txt", args.samples)
    write_shards(folder / "shards", args.samples, args.per_shard)
    rows = {
        f"list, {args.samples:,} lines": start(folder / "train.txt", str(folder)),
        f"shards, {args.samples:,} samples": start(folder / "shards", None),
    }
    phases = list(next(iter(rows.values())))
    print("| source | " + " | ".join(phases) + " |")
    print("|---" * (len(phases) + 1) + "|")
    for name, times in rows.items():
        cells = [f"{times[p]:.0f}" if p == "memory MiB" else f"{times[p]:.2f} s" for p in phases]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
