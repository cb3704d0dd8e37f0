"""Pretraining: ``pretrain(config)`` -> summary. Thin by design: the model, data and math
live elsewhere and the step loop is ``engine.loop``; this file wires them."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from sigma_video.config import TrainConfig, save_config
from sigma_video.data.annotations import VideoRecord, read_list, read_records
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, MaskConfig, SkipCounter, VideoClips
from sigma_video.data.synth import default_dataset
from sigma_video.data.transforms import normalize
from sigma_video.engine.checkpoint import list_checkpoints
from sigma_video.engine.distributed import init_distributed
from sigma_video.engine.logger import RunLogger
from sigma_video.engine.loop import Loop, TrainingError, make_plan
from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.run import (
    prepare_run_dir,
    ranks_in_sync,
    resolve_device,
    restore,
    resume_point,
    seed_ranks,
    set_tf32,
    write_json,
)
from sigma_video.engine.sampler import RunSampler
from sigma_video.pretrainer import build_pretrainer
from sigma_video.tubes import token_grid

__all__ = ["TrainingError", "load_records", "pretrain"]

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def load_records(config: TrainConfig) -> list[VideoRecord]:
    data = config.data
    if data.train is None:
        root = default_dataset()
        return read_list(root / "train.csv", root=str(root))[0]
    return read_records(data.train, data.data_root)


def pretrain(
    config: TrainConfig,
    resume: str | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or continue) a pretraining run; returns the end-of-run summary."""
    device = resolve_device(config.run.device)
    info = init_distributed(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    set_tf32(device, config.run.tf32)
    model_cfg = config.model
    if model_cfg.num_frames is None:
        model_cfg = dataclasses.replace(model_cfg, num_frames=config.data.num_frames)
    if model_cfg.img_size is None:
        model_cfg = dataclasses.replace(model_cfg, img_size=config.data.size)
    config = dataclasses.replace(config, model=model_cfg)
    records = load_records(config) if info.is_main else None
    if info.enabled:  # rank 0 may have generated the embedded dataset; then all read it
        dist.barrier()
        records = records or load_records(config)

    torch.manual_seed(config.run.seed)
    model = build_pretrainer(config.model).to(device)
    enc = model.encoder.config
    grid = token_grid(
        config.data.num_frames, config.data.size, config.data.size, enc.tubelet, enc.patch
    )
    clip = ClipConfig(
        num_frames=config.data.num_frames,
        stride=config.data.stride,
        size=config.data.size,
        crop=config.data.crop,
        num_sample=config.data.num_sample,
    )
    dataset = VideoClips(
        records,
        clip,
        backend=config.data.backend,
        seed=config.run.seed,
        time_limit=config.data.time_limit,
        mask=MaskConfig(grid, config.model.mask, config.model.mask_ratio),
    )
    plan = make_plan(config.optim, len(dataset), info.world_size, config.data.num_sample)
    optimizer = build_optimizer(model, plan.lr, config.optim.weight_decay, config.optim.betas)
    precision = resolve_precision(config.run.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    # Everything is checked; only now does the run directory get written.
    run_dir = Path(config.run.output)
    if info.is_main:
        prepare_run_dir(config, resume, overwrite)
        save_config(config, run_dir / "config.json")

    step, nonfinite_total = 0, 0
    start = resume_point(run_dir, resume)
    if start is not None:
        step, nonfinite_total = restore(start, model, optimizer, scaler)
        if info.is_main:
            log(f"resuming from {start} (step {step})")
    seed_ranks(config.run.seed, info, step)

    net: nn.Module = model
    if config.run.compile:
        net = torch.compile(net)
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(net, device_ids=ids)

    last_step = plan.total_steps
    if config.optim.max_steps is not None:
        last_step = min(last_step, config.optim.max_steps)
    logger = (
        RunLogger(run_dir, last_step, step, config.run.tensorboard, config.run.progress)
        if info.is_main
        else None
    )
    skips = SkipCounter(len(dataset), config.data.max_bad_fraction)
    loop = Loop(
        model=model,
        net=net,
        optimizer=optimizer,
        scaler=scaler,
        device=device,
        info=info,
        optim=config.optim,
        run_config=config.run,
        plan=plan,
        run_dir=run_dir,
        last_step=last_step,
        skips=skips,
        autocast_dtype=AUTOCAST.get(precision),
        logger=logger,
        step=step,
        nonfinite_total=nonfinite_total,
    )

    def forward(batch: dict, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        video = normalize(batch["video"].to(device, non_blocking=True))
        return net(video, batch["mask"].to(device, non_blocking=True))

    started = time.perf_counter()
    try:
        sampler = RunSampler(
            len(dataset),
            config.optim.batch_size,
            config.run.seed,
            plan.micro_batches_per_epoch,
            config.optim.epochs,
            info.rank,
            info.world_size,
            start=step * config.optim.accum_steps,
        )
        loader = make_loader(dataset, sampler, config.optim.batch_size, config.data.workers, device)
        loop.run(loader, forward)
    finally:
        if logger is not None:
            logger.close()

    in_sync = ranks_in_sync(model, info)
    elapsed = time.perf_counter() - started
    done = loop.step - step
    summary = {
        "run_dir": str(run_dir),
        "steps": loop.step,
        "steps_this_session": done,
        "seconds": round(elapsed, 1),
        "clips_per_s": round(done * plan.global_batch / info.world_size / max(elapsed, 1e-9), 2),
        "global_batch": plan.global_batch,
        "loss_first": loop.losses[0] if loop.losses else None,
        "loss_last": loop.losses[-1] if loop.losses else None,
        "nonfinite_steps_skipped": loop.nonfinite_total,
        "bad_files_skipped": len(skips.bad),
        "world_size": info.world_size,
        "ranks_in_sync": in_sync,
        "checkpoint": None,
    }
    if info.is_main:
        saved = list_checkpoints(run_dir)
        summary["checkpoint"] = str(saved[-1]) if saved else None
        write_json(run_dir / "summary.json", summary)
        log(
            f"done: {loop.step} steps ({done} this session) in {elapsed:.0f} s, "
            f"{summary['clips_per_s']} clips/s; "
            f"loss {summary['loss_first']} -> {summary['loss_last']}; "
            f"{loop.nonfinite_total} non-finite step(s) skipped; {skips.summary()}; "
            f"checkpoint {summary['checkpoint']}"
        )
    return summary


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 autocast on CUDA and fp32 elsewhere."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def make_loader(
    dataset: VideoClips, sampler: RunSampler, batch_size: int, workers: int, device: torch.device
) -> DataLoader:
    """One loader for the whole run (workers persist across epochs). It has its own
    generator, so making its iterator does not draw from the global RNG (which drop path
    uses and a checkpoint restores)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        drop_last=True,
        timeout=600 if workers else 0,
        generator=torch.Generator().manual_seed(0),
    )
