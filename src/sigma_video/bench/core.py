"""Method-core benchmarks: Sinkhorn-Knopp and one full pretraining step (``sigma-video
bench sinkhorn|step``). Timings synchronise the device; the first ``warmup`` runs are
dropped. Results go to BENCHMARKS.md with the machine they ran on."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch

from sigma_video.bench.timing import (
    device_name,
    known_peak_tflops,
    step_flops,
    summary,
    time_calls,
)
from sigma_video.engine.run import set_tf32
from sigma_video.losses.sinkhorn import sinkhorn_knopp
from sigma_video.pretrainer import PretrainerConfig, build_pretrainer, sample_mask


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


def step_config(model: str = "vit_tiny", **options: Any) -> PretrainerConfig:
    """The pretraining variant to time: a model preset and ``PretrainerConfig`` fields; a
    DINO φ gets random weights (timing needs none)."""
    if options.get("target") == "dino":
        options.setdefault("dino_weights", "random")
    return PretrainerConfig(model=model, **options)


def bench_step(
    model: str | PretrainerConfig = "vit_tiny",
    batch_size: int = 8,
    repeats: int = 5,
    warmup: int = 2,
    device: str = "cpu",
    peak_tflops: float | None = None,
    tf32: bool = True,
    compile: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Time one training step (forward, backward, AdamW) of a pretraining variant:
    ``model`` is a ``PretrainerConfig``, or a model preset whose other fields are
    ``options`` (``target="dino"``, ``num_prototypes=1000``, ``grad_checkpointing=True`` ...).

    bf16 autocast on CUDA, float32 on CPU. Masks are made on the device each step. Reports
    clips/s, model FLOPs per step and, with a known or given peak, the utilisation (MFU).
    """
    dev = torch.device(device)
    set_tf32(dev, tf32)
    config = model if isinstance(model, PretrainerConfig) else step_config(model, **options)
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
        "model": config.model,
        "target": config.target,
        "objective": config.objective,
        "batch_size": batch_size,
        "clip": list(shape[1:]),
        "num_prototypes": config.num_prototypes,
        "mask_ratio": config.mask_ratio,
        "precision": ("bf16-autocast" + ("+tf32" if tf32 else "")) if use_bf16 else "fp32",
        "grad_checkpointing": config.grad_checkpointing,
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
