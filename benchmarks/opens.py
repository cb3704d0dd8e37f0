"""One open per sample against two (count a file's frames, then decode), back to back in
one process on one core, so that the machine's drift falls on both alike.

    python benchmarks/opens.py [--like k400 ssv2 k400-raw] [--samples 60]

Each sample is a 16-frame training clip (the recipe's stride for the kind, one multi-scale
crop to 224²) of a file the loader has not met (``FirstPass``: as on the first pass over a
large dataset), loaded in turn by the PyAV backend, which reads the frame count from the
open it decodes from, and by ``TwoOpensBackend``; the order alternates every sample. Prints
a Markdown table: the mean ms per sample of each, the median of the paired differences,
and the samples per second gained.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sigma_video.bench.data import FirstPass, TwoOpensBackend
from sigma_video.bench.like import LIKE, write_like
from sigma_video.data.annotations import VideoRecord
from sigma_video.data.dataset import ClipConfig
from sigma_video.data.decode import PyAVBackend
from sigma_video.synth.cache import default_cache_dir


def time_opens(paths: list, stride: int, samples: int) -> dict[str, float]:
    """Mean ms per sample with one open (``one``) and two (``two``), and the median of the
    paired differences (``saved``), over ``samples`` clips of ``paths``."""
    records = [VideoRecord(str(p)) for p in paths]
    clip = ClipConfig(num_frames=16, stride=stride, size=224)
    loaders = {
        "one": FirstPass(records, clip, backend=PyAVBackend()),
        "two": FirstPass(records, clip, backend=TwoOpensBackend()),
    }
    times: dict[str, list[float]] = {name: [] for name in loaders}
    for i in range(samples):
        key = (i % len(records), i // len(records))
        for name in ("one", "two") if i % 2 == 0 else ("two", "one"):
            start = time.perf_counter()
            loaders[name][key]
            times[name].append(1e3 * (time.perf_counter() - start))
    saved = [b - a for a, b in zip(times["one"], times["two"], strict=True)]
    return {
        "one": statistics.mean(times["one"]),
        "two": statistics.mean(times["two"]),
        "saved": statistics.median(saved),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--like", nargs="+", default=["k400", "ssv2", "k400-raw"])
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    print("| kind | one open: ms per sample | two opens | saved per sample (median) | samples/s |")
    print("|---|---|---|---|---|")
    for kind in args.like:
        paths = write_like(kind, default_cache_dir() / "like")
        ms = time_opens(paths, LIKE[kind].stride, args.samples)
        gain = 100 * (ms["two"] / ms["one"] - 1)
        cells = [kind, f"{ms['one']:.1f}", f"{ms['two']:.1f}", f"{ms['saved']:.1f} ms"]
        print("| " + " | ".join([*cells, f"{gain:+.0f} %"]) + " |", flush=True)


if __name__ == "__main__":
    main()
