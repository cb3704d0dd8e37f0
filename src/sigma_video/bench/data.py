"""Data benchmarks: loader throughput per backend and views per decode (``bench data``),
and the whole training pipeline's busy share per worker count (``bench pipeline``)."""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import numpy as np

from sigma_video.bench.timing import device_name
from sigma_video.data.dataset import VideoClips
from sigma_video.data.decode import (
    DecodeError,
    Positions,
    PyAVBackend,
    open_source,
    pick_frames,
    to_rgb,
)
from sigma_video.files import first_line


class WholeVideoBaseline(PyAVBackend):
    """What users write by hand: decode the whole video, then index (the baseline our
    seeking decoder is measured against)."""

    name = "pyav-whole-video"

    def decode(self, path: str, frame_indices: Positions) -> np.ndarray:
        import av

        with self._open(path) as container:
            frame_indices = self._positions(container, path, frame_indices)
            container.seek(0)  # counting may have read the packets to the end
            try:
                frames = dict(enumerate(to_rgb(f) for f in container.decode(video=0)))
            except av.error.FFmpegError as err:
                raise DecodeError(path, f"corrupt data: {first_line(err)}") from None
        return pick_frames(path, frames, frame_indices)


class FirstPass(VideoClips):
    """Training clips, each loaded as if its file were new to the worker — as on the first
    pass over a dataset of many more files than a benchmark holds: nothing about the file
    (frame count, frame size) is remembered from an earlier sample."""

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        self._lengths.clear()
        self._sizes.clear()
        return super().__getitem__(key)


class TwoOpensBackend(PyAVBackend):
    """The PyAV backend opening a file twice per sample, to count its frames and to decode
    (the comparison for ``opens_once``)."""

    name = "pyav-two-opens"
    opens_once = False


class NoSkipBackend(PyAVBackend):
    """The PyAV backend with every frame decoded (the comparison for ``skip_nonref``)."""

    name = "pyav-noskip"

    def __init__(self) -> None:
        super().__init__(skip_nonref=False)


def bench_data(
    records: list,
    num_frames: int = 16,
    stride: int = 4,
    size: int = 224,
    workers: int = 2,
    num_samples: tuple[int, ...] = (1, 4),
    backends: tuple[str, ...] | None = None,
    clips: int = 64,
    baseline: bool = True,
    decode_in: str = "loader",
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Loader throughput for pretraining-style sampling, per backend and ``num_sample``.

    ``clips`` samples are loaded through a ``DataLoader`` with ``workers`` processes (batch
    size 1); the first one (worker start-up) is not timed. Each sample is loaded as on the
    first pass over a dataset of many more files (``FirstPass``: nothing of its file
    known). ``views_per_s`` counts augmented clips (``num_sample`` per decode).
    ``decode_in="step"``: the workers only plan the clips and this process decodes and
    crops them on ``device`` (``data.step_decode``; NVDEC with the torchcodec backend on
    ``cuda``). ``baseline`` adds the PyAV backend with one of its parts left out (two opens
    per sample, no frame skipping) and the whole-video decoder."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from sigma_video.data.collate import collate
    from sigma_video.data.dataset import ClipConfig
    from sigma_video.data.decode import available_backends, get_backend
    from sigma_video.data.step_decode import StepDecoder, decoded_in_step

    step_device = torch.device(device)
    # a backend decodes on the device only in this process (step), never in loader workers
    decoder_device = step_device if decode_in == "step" else torch.device("cpu")
    names = backends or available_backends()
    chosen: list[Any] = [get_backend(name, device=decoder_device) for name in names]
    if baseline:
        chosen += [TwoOpensBackend(), NoSkipBackend(), WholeVideoBaseline()]
    results = []
    for backend in chosen:
        for num_sample in num_samples:
            clip = ClipConfig(
                num_frames=num_frames, stride=stride, size=size, num_sample=num_sample
            )
            data = FirstPass(records, clip, backend=backend, decode_in=decode_in)
            subset = Subset(data, [i % len(data) for i in range(clips)])
            loader: Any = DataLoader(
                subset,
                batch_size=1,
                num_workers=workers,
                collate_fn=collate,
                timeout=300 if workers else 0,
            )
            if decode_in == "step":
                loader = decoded_in_step(loader, StepDecoder(backend, step_device))
            views = skipped = 0
            start = time.perf_counter()
            for i, batch in enumerate(loader):
                if i == 0:  # worker start-up is not throughput
                    start = time.perf_counter()
                    continue
                views += batch["video"].shape[0]
                skipped += len(batch["skipped"])
            if step_device.type == "cuda":
                torch.cuda.synchronize(step_device)
            elapsed = time.perf_counter() - start
            decodes = clips - 1
            results.append(
                {
                    "bench": "data",
                    "backend": backend.name,
                    "decode_in": decode_in if decode_in == "loader" else f"step ({device})",
                    "workers": workers,
                    "num_sample": num_sample,
                    "clip": [3, num_frames, size, size],
                    "stride": stride,
                    "decodes": decodes,
                    "decodes_per_s": decodes / elapsed,
                    "views_per_s": views / elapsed,
                    "ms_per_decode_per_worker": 1e3 * elapsed * max(workers, 1) / decodes,
                    "skipped": skipped,
                }
            )
    return results


def bench_pipeline(
    preset: str = "demo",
    overrides: tuple[str, ...] = (),
    steps: int = 30,
    workers: tuple[int, ...] = (0, 2, 4),
    warmup: int = 5,
) -> list[dict[str, Any]]:
    """The whole training pipeline on real decoded video (the preset's data, by default the
    generated dataset): for each loader worker count, ``steps`` optimizer steps of
    ``pretrain`` and the share of wall-clock time the step was *not* waiting for data
    (``busy_fraction``; on CUDA the step time includes the one host sync per step, so this
    is the accelerator's busy share up to launch gaps). The first ``warmup`` steps (worker
    start-up) are left out."""
    import json
    import tempfile
    from pathlib import Path

    from sigma_video.engine.device import resolve_device
    from sigma_video.pretraining.config import load_pretrain_config
    from sigma_video.pretraining.trainer import pretrain

    if steps <= warmup:
        raise ValueError(f"steps must be larger than warmup ({warmup}), got {steps}")
    results = []
    for count in workers:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_pretrain_config(
                preset,
                [
                    *overrides,
                    f"data.workers={count}",
                    f"optim.max_steps={steps}",
                    f"run.output={tmp}",
                    "run.log_every=1",
                    f"run.save_every={steps + 1}",
                    "run.tensorboard=false",
                    "run.progress=false",
                ],
            )
            summary = pretrain(config, overwrite=True, log=lambda _: None)
            lines = (Path(tmp) / "metrics.jsonl").read_text().splitlines()
            rows = [json.loads(line) for line in lines][warmup:]
        clips = summary["global_batch"]  # clips_per_s counts all ranks
        elapsed = sum(clips / r["clips_per_s"] for r in rows)
        waited = sum(r["data_wait_s"] for r in rows)
        results.append(
            {
                "bench": "pipeline",
                "device": device_name(resolve_device(config.run.device)),
                "preset": preset,
                "workers": count,
                "steps_timed": len(rows),
                "clips_per_s": round(len(rows) * clips / elapsed, 2),
                "step_ms": round(1e3 * elapsed / len(rows), 1),
                "data_wait_ms": round(1e3 * waited / len(rows), 1),
                "busy_fraction": round(1 - waited / elapsed, 3),
            }
        )
    return results


def profile_decode(
    records: list,
    num_frames: int = 16,
    stride: int = 4,
    size: int = 224,
    kind: str = "",
    samples: int = 24,
) -> dict[str, Any]:
    """Where one training sample's time goes, on one core: opening the file (reading a
    shard's sample into memory first), seeking and
    decoding up to the last frame the clip needs (every frame: the plain decode, counting
    the frames), colour conversion of the kept frames, and one multiscale crop + resize to
    ``size``² — median ms over ``samples`` random clips (the recipe's sampling, seeded)."""
    import random
    import statistics

    import av
    import torch

    from sigma_video.data.sampling import random_clip_indices
    from sigma_video.data.transforms import crop_resize, multiscale_crop_box

    rng = random.Random(0)
    backend = PyAVBackend()
    phases: dict[str, list[float]] = {k: [] for k in ("open", "decode", "convert", "crop")}
    decoded, distinct = [], []
    for i in range(samples):
        path = records[i % len(records)].path
        count = backend.num_frames(path)  # read in the same open in training: not timed
        wanted = random_clip_indices(count, num_frames, stride, rng, "repeat")
        t0 = time.perf_counter()
        with av.open(open_source(path)) as container:  # a shard's sample: read, then opened
            stream = container.streams.video[0]
            stream.thread_count = 1
            rate = stream.average_rate or stream.guessed_rate
            t1 = time.perf_counter()
            start = stream.start_time or 0
            target = start + int(Fraction(min(wanted)) / Fraction(rate) / stream.time_base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
            kept, n = {}, 0
            for frame in container.decode(stream):
                n += 1
                if frame.pts is None:
                    raise ValueError(f"{path}: frames without timestamps cannot be profiled")
                position = round(float((frame.pts - start) * stream.time_base * rate))
                if position in wanted:
                    kept[position] = frame
                if position >= max(wanted):
                    break
            t2 = time.perf_counter()
            arrays = [to_rgb(kept[p]) for p in sorted(kept)]
            t3 = time.perf_counter()
            frames = torch.from_numpy(np.stack(arrays))
            box = multiscale_crop_box(frames.shape[1], frames.shape[2], rng, size)
            crop_resize(frames, box, size)
            t4 = time.perf_counter()
        for key, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[key].append(1e3 * value)
        decoded.append(n)
        distinct.append(len(kept))
    result: dict[str, Any] = {"bench": "decode_profile", "like": kind, "samples": samples}
    result.update({f"{k}_ms": round(statistics.median(v), 2) for k, v in phases.items()})
    result["total_ms"] = round(sum(result[f"{k}_ms"] for k in phases), 2)
    result["frames_decoded_per_clip"] = statistics.median(decoded)
    result["distinct_frames_kept_per_clip"] = statistics.median(distinct)
    return result
