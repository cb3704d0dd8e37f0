"""Micro-benchmarks that print numbers: Sinkhorn and one full pretraining step.

Run through ``sigma-video bench sinkhorn|step``; results go to BENCHMARKS.md with the
machine they ran on. Timings synchronise the device; the first ``warmup`` runs are dropped.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from sigma_video.engine.run import set_tf32
from sigma_video.losses.sinkhorn import sinkhorn_knopp
from sigma_video.pretrainer import PretrainerConfig, build_pretrainer, sample_mask


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def time_calls(
    fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int
) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * min(times),
        "max_ms": 1e3 * max(times),
    }


def bench_sinkhorn(
    rows: int = 45056,
    prototypes: int = 3000,
    epsilon: float = 0.05,
    iterations: int = 10,
    repeats: int = 5,
    warmup: int = 1,
    device: str = "cpu",
) -> dict[str, Any]:
    """Time ``sinkhorn_knopp`` on random cosine-like scores ``(rows, prototypes)``."""
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    scores = torch.rand(rows, prototypes, generator=gen, device=dev) * 2 - 1
    times = time_calls(lambda: sinkhorn_knopp(scores, epsilon, iterations), dev, repeats, warmup)
    return {
        "bench": "sinkhorn",
        "device": device_name(dev),
        "rows": rows,
        "prototypes": prototypes,
        "epsilon": epsilon,
        "iterations": iterations,
        "repeats": repeats,
        **summary(times),
    }


def bench_step(
    model: str = "vit_tiny",
    batch_size: int = 8,
    num_frames: int | None = None,
    img_size: int | None = None,
    target: str = "mlp",
    objective: str = "sigma",
    num_prototypes: int = 3000,
    mask_ratio: float = 0.9,
    grad_checkpointing: bool = False,
    repeats: int = 5,
    warmup: int = 2,
    device: str = "cpu",
    peak_tflops: float | None = None,
    tf32: bool = True,
    compile: bool = False,
) -> dict[str, Any]:
    """Time one training step (forward, backward, AdamW) of a pretraining variant.

    bf16 autocast on CUDA, float32 on CPU. Masks are made on the device each step. Reports
    clips/s, model FLOPs per step and, with a known or given peak, the utilisation (MFU).
    """
    dev = torch.device(device)
    set_tf32(dev, tf32)
    config = PretrainerConfig(
        model=model,
        target=target,
        objective=objective,
        num_prototypes=num_prototypes,
        mask_ratio=mask_ratio,
        num_frames=num_frames,
        img_size=img_size,
        grad_checkpointing=grad_checkpointing,
        dino_weights="random" if target == "dino" else None,  # timing needs no real weights
    )
    net = build_pretrainer(config).to(dev).train()
    enc = net.encoder.config
    optimizer = torch.optim.AdamW(
        [p for p in net.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.95)
    )
    gen = torch.Generator(device=dev).manual_seed(0)
    shape = (batch_size, enc.in_chans, enc.num_frames, enc.img_size, enc.img_size)
    video = torch.randn(shape, generator=gen, device=dev)
    use_bf16 = dev.type == "cuda"

    runner: Callable[..., Any] = net

    def step() -> None:
        mask = sample_mask(config, net, video, generator=gen)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss, _ = runner(video, mask)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    flops = step_flops(step)  # counted eagerly; the compiled graph does the same work
    if compile:
        runner = torch.compile(net)  # compiled during the untimed warm-up steps
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = time_calls(step, dev, repeats, warmup)
    result = {
        "bench": "step",
        "device": device_name(dev),
        "model": model,
        "target": target,
        "objective": objective,
        "batch_size": batch_size,
        "clip": list(shape[1:]),
        "num_prototypes": num_prototypes,
        "mask_ratio": mask_ratio,
        "precision": ("bf16-autocast" + ("+tf32" if tf32 else "")) if use_bf16 else "fp32",
        "compiled": compile,
        "parameters_m": sum(p.numel() for p in net.parameters()) / 1e6,
        "repeats": repeats,
        **summary(times),
        "clips_per_s": batch_size / statistics.median(times),
        "model_tflop_per_step": flops / 1e12,
        "achieved_tflops": flops / statistics.median(times) / 1e12,
    }
    peak = peak_tflops if peak_tflops is not None else known_peak_tflops(dev)
    if peak:
        result["peak_tflops"] = peak
        result["mfu"] = result["achieved_tflops"] / peak
    if dev.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30
    return result


def step_flops(step: Callable[[], None]) -> float:
    """Floating-point operations of one call (matmuls, convolutions, attention), counted
    by ``torch.utils.flop_counter`` — the model FLOPs of MFU, not the hardware's."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


# Dense bf16 tensor-core peaks (vendor figures, TFLOP/s), for model FLOPs utilisation.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def known_peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


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
) -> list[dict[str, Any]]:
    """Loader throughput for pretraining-style sampling, per backend and ``num_sample``.

    ``clips`` samples are loaded through a ``DataLoader`` with ``workers`` processes (batch
    size 1); the first one (worker start-up) is not timed. ``views_per_s`` counts augmented
    clips (``num_sample`` per decode).
    """
    from torch.utils.data import DataLoader, Subset

    from sigma_video.data.collate import collate
    from sigma_video.data.dataset import ClipConfig, VideoClips
    from sigma_video.data.decode import WholeVideoBaseline, available_backends, get_backend

    chosen: list[Any] = [get_backend(name) for name in (backends or available_backends())]
    if baseline:
        chosen.append(WholeVideoBaseline())
    results = []
    for backend in chosen:
        for num_sample in num_samples:
            clip = ClipConfig(
                num_frames=num_frames, stride=stride, size=size, num_sample=num_sample
            )
            data = VideoClips(records, clip, backend=backend)
            subset = Subset(data, [i % len(data) for i in range(clips)])
            loader = DataLoader(
                subset,
                batch_size=1,
                num_workers=workers,
                collate_fn=collate,
                timeout=300 if workers else 0,
            )
            views = skipped = 0
            start = time.perf_counter()
            for i, batch in enumerate(loader):
                if i == 0:  # worker start-up is not throughput
                    start = time.perf_counter()
                    continue
                views += batch["video"].shape[0]
                skipped += len(batch["skipped"])
            elapsed = time.perf_counter() - start
            decodes = clips - 1
            results.append(
                {
                    "bench": "data",
                    "backend": backend.name,
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

    from sigma_video.config import load_config
    from sigma_video.engine.run import resolve_device
    from sigma_video.engine.trainer import pretrain

    if steps <= warmup:
        raise ValueError(f"steps must be larger than warmup ({warmup}), got {steps}")
    results = []
    for count in workers:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config(
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
        clips = summary["global_batch"] // summary["world_size"]
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
