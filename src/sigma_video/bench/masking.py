"""What motion-guided masks cost in the loader: per-clip times of each part on one CPU core
(the flow, the mask), and the end-to-end loader throughput per mask kind."""

from __future__ import annotations

import random
import time
from typing import Any

import torch
import torch.nn.functional as F

from sigma_video.bench.timing import summary, time_calls

KINDS = ("tube", "mgm", "mgmae")


def bench_mask_parts(
    records: list, num_frames: int, stride: int, size: int, patch: int, ratio: float, repeats: int
) -> list[dict[str, Any]]:
    """Milliseconds per clip (one view, one thread) of: the tube mask, the codec-motion
    decode overhead and MGM's mask, DIS flow and MGMAE's mask, on the first record."""
    from sigma_video.data.dataset import ClipConfig, VideoClips
    from sigma_video.flow.sources import DISFlow
    from sigma_video.masks.mgm import motion_guided_mask, tube_motion
    from sigma_video.masks.mgmae import flow_guided_mask
    from sigma_video.masks.tube import tube_mask

    cpu = torch.device("cpu")
    clip = ClipConfig(num_frames=num_frames, stride=stride, size=size, crop="center")
    data = VideoClips(records, clip)
    record, rng = records[0], random.Random(0)
    indices = data.frame_indices(record, rng)
    grid = (num_frames // 2, size // patch, size // patch)
    view = data.load(record, random.Random(0))[0]  # (3, T, S, S)
    dis = DISFlow()
    forward, backward = dis(view.permute(1, 2, 3, 0).numpy())
    _, motion = data.backend.decode_motion(record.path, indices)
    motion = torch.from_numpy(motion)[:, None].float()  # (T, 1, H, W)
    parts = {
        "decode": lambda: data.decode(record, indices),
        "decode with motion vectors": lambda: data.backend.decode_motion(record.path, indices),
        "tube mask": lambda: tube_mask(1, grid, ratio),
        "mgm mask (from the vectors)": lambda: motion_guided_mask(
            tube_motion(F.interpolate(motion, size=(size, size))[:, 0], 2, patch),
            ratio,
            random.Random(0),
        ),
        "dis flow (forward + backward)": lambda: dis(view.permute(1, 2, 3, 0).numpy()),
        "mgmae mask (from the flow)": lambda: flow_guided_mask(
            forward, backward, ratio, random.Random(0), 2, patch
        ),
    }
    shape = [3, num_frames, size, size]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one loader worker's core; restored after (a global setting)
    try:
        return [
            {
                "bench": "masking",
                "part": name,
                "clip": shape,
                **summary(time_calls(fn, cpu, repeats, 1)),
            }
            for name, fn in parts.items()
        ]
    finally:
        torch.set_num_threads(threads)


def bench_mask_loader(
    records: list,
    num_frames: int,
    stride: int,
    size: int,
    patch: int,
    ratio: float,
    workers: int,
    clips: int,
    kinds: tuple[str, ...] = KINDS,
) -> list[dict[str, Any]]:
    """Clips per second through a ``DataLoader`` (``workers`` processes, batch 1) for each
    mask kind, the first clip (start-up) untimed."""
    from torch.utils.data import DataLoader, Subset

    from sigma_video.data.collate import collate
    from sigma_video.data.dataset import ClipConfig, VideoClips
    from sigma_video.masks.builder import MaskConfig

    grid = (num_frames // 2, size // patch, size // patch)
    clip = ClipConfig(num_frames=num_frames, stride=stride, size=size)
    results = []
    for kind in kinds:
        data = VideoClips(records, clip, mask=MaskConfig(grid, kind, ratio))
        subset = Subset(data, [i % len(data) for i in range(clips)])
        loader = DataLoader(subset, batch_size=1, num_workers=workers, collate_fn=collate)
        start = time.perf_counter()
        for i, _ in enumerate(loader):
            if i == 0:
                start = time.perf_counter()
        elapsed = time.perf_counter() - start
        results.append(
            {
                "bench": "masking-loader",
                "mask": kind,
                "workers": workers,
                "clip": [3, num_frames, size, size],
                "clips_per_s": (clips - 1) / elapsed,
                "ms_per_clip_per_worker": 1e3 * elapsed * max(workers, 1) / (clips - 1),
            }
        )
    return results
