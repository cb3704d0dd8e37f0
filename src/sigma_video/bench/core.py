"""Method-core benchmarks: Sinkhorn-Knopp and one full pretraining step (``sigma-video
bench sinkhorn|step``). Timings synchronise the device; the first ``warmup`` runs are
dropped. Results go to BENCHMARKS.md with the machine they ran on."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from sigma_video.bench.timing import (
    device_name,
    known_peak_tflops,
    step_flops,
    summary,
    time_calls,
)
from sigma_video.config import load_config
from sigma_video.engine.device import set_tf32
from sigma_video.losses.sinkhorn import sinkhorn_knopp
from sigma_video.masks.builder import MaskSettings
from sigma_video.models.config import PretrainerConfig
from sigma_video.pretrainer import build_pretrainer, sample_mask


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


@dataclass
class StepVariant:
    """The pretraining variant ``bench step`` times: a pretraining config's ``[model]`` and
    ``[mask]`` sections (the same keys as ``sigma-video pretrain``)."""

    model: PretrainerConfig = field(default_factory=PretrainerConfig)
    mask: MaskSettings = field(default_factory=MaskSettings)


def step_variant(overrides: list[str] | None = None, arch: str = "vit_tiny") -> StepVariant:
    """``arch`` with dotted ``overrides`` (``model.target.kind=dino``, ``mask.ratio=0.75``);
    a DINO φ gets random weights (timing needs none)."""
    variant = load_config(None, [f"model.arch={arch}", *(overrides or [])], cls=StepVariant)
    target = variant.model.target
    if target.kind == "dino" and target.dino_weights is None:
        target.dino_weights = "random"
    return variant


def bench_step(
    variant: StepVariant | str = "vit_tiny",
    batch_size: int = 8,
    repeats: int = 5,
    warmup: int = 2,
    device: str = "cpu",
    peak_tflops: float | None = None,
    tf32: bool = True,
    compile: bool = False,
) -> dict[str, Any]:
    """Time one training step (forward, backward, AdamW) of a pretraining variant:
    ``variant`` is a ``StepVariant`` (``step_variant``) or a model preset's name.

    bf16 autocast on CUDA, float32 on CPU. Masks are made on the device each step. Reports
    clips/s, model FLOPs per step and, with a known or given peak, the utilisation (MFU).
    """
    if isinstance(variant, str):
        variant = step_variant(arch=variant)
    config = variant.model
    dev = torch.device(device)
    set_tf32(dev, tf32)
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
        mask = sample_mask(variant.mask, net, video, generator=gen)
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
        "model": config.arch,
        "target": config.target.kind,
        "objective": config.objective.kind,
        "batch_size": batch_size,
        "clip": list(shape[1:]),
        "num_prototypes": config.objective.num_prototypes,
        "mask_ratio": variant.mask.ratio,
        "decoder_mask_ratio": variant.mask.decoder_ratio,
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
