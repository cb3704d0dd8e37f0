"""Pretraining: ``pretrain(config)`` -> summary. Thin by design: the model, data and math
live elsewhere and the step loop is ``engine.loop``; this file wires them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sigma_video.data.annotations import VideoRecord, read_list, read_records
from sigma_video.data.check import refuse_missing
from sigma_video.data.dataset import ClipConfig, MaskConfig, VideoClips
from sigma_video.data.decode import get_backend
from sigma_video.data.step_decode import StepDecoder, decoded_in_step
from sigma_video.data.synth import default_dataset
from sigma_video.data.transforms import normalize
from sigma_video.engine.collapse import CollapseMonitor
from sigma_video.engine.config import TrainConfig
from sigma_video.engine.init import load_init
from sigma_video.engine.loop import Loop, TrainingError, make_plan, open_loop
from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.run import (
    checked_resume,
    main_rank_first,
    resume_point,
    start_device,
    write_run_files,
)
from sigma_video.flow.sources import check_flow_source
from sigma_video.masking import make_mask
from sigma_video.pretrainer import build_pretrainer, target_freeze_steps
from sigma_video.tubes import token_grid

__all__ = ["TrainingError", "load_records", "pretrain"]


def load_records(config: TrainConfig, log: Callable[[str], None] = print) -> list[VideoRecord]:
    """The training records; a list with more missing files than the run may skip stops
    here, before any training (``data.check.refuse_missing``)."""
    data = config.data
    if data.train is None:
        root = default_dataset(log=log)
        return read_list(root / "train.csv", root=str(root))[0]
    records = read_records(data.train, data.data_root)
    refuse_missing(records, data.train, data.max_bad_fraction, log=log)
    return records


def collapse_monitor(model: nn.Module, mask: MaskConfig, clips_per_batch: int) -> CollapseMonitor:
    """The monitor for a pretrainer's logged diagnostics (φ's width D, K, masked tubes)."""
    objective = model.objective
    prototypes = getattr(objective, "prototypes", None)
    masked = make_mask(mask.kind, 1, mask.grid, mask.ratio).masked.shape[1]
    return CollapseMonitor(
        model.target.out_dim,
        prototypes.num_prototypes if prototypes is not None else None,
        masked * clips_per_batch,
    )


def pretrain(
    config: TrainConfig,
    resume: str | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    allow_changes: bool = False,
) -> dict[str, Any]:
    """Run (or continue) a pretraining run; returns the end-of-run summary (of a run that
    was already finished: its saved summary, with ``steps_this_session`` 0).

    ``resume``: ``"auto"`` (the latest checkpoint of ``run.output``, if any) or a
    checkpoint folder; the resolved ``config`` must then be the run's own, apart from
    session settings (``engine.run.resume_config``), unless ``allow_changes``."""
    device, info = start_device(config.run)
    start = resume_point(Path(config.run.output), resume, log if info.is_main else _quiet)
    config = checked_resume(config.resolved(), start, allow_changes, info)
    if config.model.mask == "mgmae":  # RAFT weights or OpenCV missing: say so before anything
        check_flow_source(config.model.flow_options)
    records = main_rank_first(info, lambda say: load_records(config, say), log)

    torch.manual_seed(config.run.seed)
    model = build_pretrainer(config.model)
    if config.run.init is not None and start is None:
        ignored = load_init(model, config.run.init)
        if info.is_main:
            log(f"initialised from {config.run.init} ({len(ignored)} of its tensors unused)")
    model = model.to(device)
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
        mask=MaskConfig(
            grid, config.model.mask, config.model.mask_ratio, config.model.flow_options
        ),
        decode_in=config.data.decode_in,
    )
    plan = make_plan(config.optim, len(dataset), info.world_size, config.data.num_sample)
    model.freeze_target_steps = target_freeze_steps(config.model, plan.steps_per_epoch)
    optimizer = build_optimizer(model, plan.lr, config.optim.weight_decay, config.optim.betas)
    write_run_files(config, info, resume, overwrite)  # everything is checked: now write
    loop = open_loop(
        model,
        optimizer,
        plan,
        device,
        info,
        optim=config.optim,
        run=config.run,
        num_samples=len(dataset),
        max_bad_fraction=config.data.max_bad_fraction,
        resume_from=start,
        log=log,
    )
    done = loop.finished_summary(log)
    if done is not None:
        return done
    loop.monitor = collapse_monitor(model, dataset.mask, config.optim.batch_size * info.world_size)

    device_masks = None
    if dataset.mask.kind == "mgmae" and dataset.mask.flow.on_device:
        from sigma_video.flow.device import DeviceFlowMasks

        device_masks = DeviceFlowMasks(dataset.mask, device)

    def forward(batch: dict, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raw = batch["video"].to(device, non_blocking=True)
        if device_masks is not None:  # MGMAE with RAFT: the masks need the device's flow
            mask = device_masks(raw, batch["mask_seed"])
        else:
            mask = batch["mask"].to(device, non_blocking=True)
        return loop.net(normalize(raw), mask)

    batches = loop.loader(dataset, config.data.workers)
    if config.data.decode_in == "step":  # the workers planned the clips: decode them here
        backend = get_backend(config.data.backend, config.data.time_limit, device)
        batches = decoded_in_step(batches, StepDecoder(backend, device))
    try:
        loop.run(batches, forward)
    finally:
        loop.close()
    summary = loop.finish()
    if info.is_main:
        log(loop.stopped_line() if loop.stopped_by else done_line(summary, loop))
    return summary


def _quiet(line: str) -> None:
    """The log of ranks other than the main one."""


def done_line(summary: dict[str, Any], loop: Loop) -> str:
    return (
        f"done: {loop.step} steps ({summary['steps_this_session']} this session) in "
        f"{summary['seconds']:.0f} s, {summary['clips_per_s']} clips/s; "
        f"loss {summary['loss_first']} -> {summary['loss_last']}; "
        f"{loop.nonfinite_total} non-finite step(s) skipped; {loop.skips.summary()}; "
        f"checkpoint {summary['checkpoint']}"
    )
