"""The pretraining loop: ``pretrain(config)`` -> summary. Thin by design: the model, data
and math live elsewhere; this file wires them, steps the optimizer and keeps the books."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from sigma_video.config import TrainConfig, save_config
from sigma_video.data.annotations import VideoRecord, read_folder, read_list
from sigma_video.data.collate import collate
from sigma_video.data.dataset import ClipConfig, MaskConfig, SkipCounter, VideoClips
from sigma_video.data.synth import default_dataset
from sigma_video.data.transforms import normalize
from sigma_video.engine.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    load_weights_into,
    save_checkpoint,
    set_rng_state,
    unwrap,
)
from sigma_video.engine.distributed import DistInfo, all_mean, init_distributed
from sigma_video.engine.logger import RunLogger
from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.sampler import RunSampler
from sigma_video.engine.schedule import cosine_schedule
from sigma_video.pretrainer import build_pretrainer
from sigma_video.tubes import token_grid


class TrainingError(RuntimeError):
    """The run cannot go on (e.g. the loss stays non-finite)."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"run.device={name} but this machine has no CUDA device; use run.device=cpu"
        )
    return device


def load_records(config: TrainConfig) -> list[VideoRecord]:
    data = config.data
    if data.train is None:
        root = default_dataset()
        return read_list(root / "train.csv", root=str(root))[0]
    path = Path(data.train)
    if path.is_dir():
        return read_folder(path)[0]
    if not path.exists():
        raise ValueError(f"data list {path} does not exist")
    return read_list(path, root=data.data_root)[0]


def prepare_run_dir(config: TrainConfig, resume: str | None, overwrite: bool) -> Path:
    """Check the output folder before anything is written; refuse to mix two runs."""
    run_dir = Path(config.run.output)
    existing = run_dir / "config.json"
    if existing.exists() and resume is None and not overwrite:
        raise ValueError(
            f"{run_dir} already holds a run; pass --resume auto to continue it or --overwrite "
            "to replace it"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(
            f"cannot write to output directory {run_dir}: {err.strerror or err}"
        ) from None
    if overwrite and resume is None:
        for old in list_checkpoints(run_dir):
            shutil.rmtree(old)
        for name in ("metrics.jsonl", "summary.json"):
            (run_dir / name).unlink(missing_ok=True)
    return run_dir


@dataclasses.dataclass
class Plan:
    """Step arithmetic of a run."""

    micro_batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    global_batch: int
    lr: float
    min_lr: float
    warmup_lr: float


def make_plan(config: TrainConfig, num_samples: int, world: int) -> Plan:
    o = config.optim
    micro = num_samples // (o.batch_size * world)
    steps = micro // o.accum_steps
    if steps < 1:
        raise ValueError(
            f"{num_samples} samples are fewer than one global batch of "
            f"{o.batch_size * world * o.accum_steps}; lower optim.batch_size or accum_steps"
        )
    global_batch = o.batch_size * o.accum_steps * world * config.data.num_sample
    scale = global_batch / 256
    return Plan(
        micro_batches_per_epoch=steps * o.accum_steps,
        steps_per_epoch=steps,
        total_steps=o.epochs * steps,
        warmup_steps=round(o.warmup_epochs * steps),
        global_batch=global_batch,
        lr=o.base_lr * scale,
        min_lr=o.min_lr * scale,
        warmup_lr=o.warmup_lr * scale,
    )


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
    plan = make_plan(config, len(dataset), info.world_size)
    optimizer = build_optimizer(model, plan.lr, config.optim.weight_decay, config.optim.betas)
    precision = config.run.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    # Everything is checked; only now does the run directory get written.
    run_dir = Path(config.run.output)
    if info.is_main:
        prepare_run_dir(config, resume, overwrite)
        save_config(config, run_dir / "config.json")

    step, nonfinite_total = 0, 0
    start = _resume_point(run_dir, resume)
    if start is not None:
        weights, state = load_checkpoint(start)
        try:
            load_weights_into(model, weights)
        except ValueError as err:
            raise ValueError(f"{start}: {err}") from None
        optimizer.load_state_dict(state["optimizer"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        step, nonfinite_total = int(state["step"]), int(state["nonfinite_total"])
        set_rng_state(state["rng"])
        if info.is_main:
            log(f"resuming from {start} (step {step})")

    net: nn.Module = model
    if config.run.compile:
        net = torch.compile(net)
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(net, device_ids=ids)

    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    last_step = plan.total_steps
    if config.optim.max_steps is not None:
        last_step = min(last_step, config.optim.max_steps)
    logger = (
        RunLogger(run_dir, last_step, step, config.run.tensorboard, config.run.progress)
        if info.is_main
        else None
    )
    skips = SkipCounter(len(dataset), config.data.max_bad_fraction)
    losses: list[float] = []
    consecutive_nonfinite = 0
    window = _Window()
    started = time.perf_counter()
    start_step = step

    def set_schedule(at: int) -> float:
        lr = cosine_schedule(
            at, plan.total_steps, plan.warmup_steps, plan.lr, plan.min_lr, plan.warmup_lr
        )
        wd_end = config.optim.weight_decay_end
        wd = config.optim.weight_decay
        if wd_end is not None:
            wd = cosine_schedule(at, plan.total_steps, 0, wd, wd_end)
        for group in optimizer.param_groups:
            group["lr"] = lr
            if group["decayed"]:
                group["weight_decay"] = wd
        return lr

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
        loader = DataLoader(
            dataset,
            batch_size=config.optim.batch_size,
            sampler=sampler,
            num_workers=config.data.workers,
            collate_fn=collate,
            pin_memory=device.type == "cuda",
            drop_last=True,
            timeout=600 if config.data.workers else 0,
        )
        if step < last_step:
            micro = 0
            finite = torch.ones((), dtype=torch.bool, device=device)
            wait_start = time.perf_counter()
            for batch in loader:
                if micro == 0:
                    lr = set_schedule(step)
                window.wait += time.perf_counter() - wait_start
                skips.update(batch["skipped"])
                window.skipped += len(batch["skipped"])
                video = normalize(batch["video"].to(device, non_blocking=True))
                mask = batch["mask"].to(device, non_blocking=True)
                last_micro = micro == config.optim.accum_steps - 1
                sync = contextlib.nullcontext() if last_micro or not info.enabled else net.no_sync()
                with (
                    sync,
                    torch.autocast(
                        device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None
                    ),
                ):
                    loss, metrics = net(video, mask)
                    finite &= torch.isfinite(loss)
                    scaler.scale(loss / config.optim.accum_steps).backward()
                window.add(metrics, len(video))
                micro += 1
                if not last_micro:
                    wait_start = time.perf_counter()
                    continue
                micro = 0
                if info.enabled:
                    flag = finite.to(torch.int32)
                    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
                    finite = flag.bool()
                if not bool(finite):  # one host sync per optimizer step
                    optimizer.zero_grad(set_to_none=True)
                    nonfinite_total += 1
                    consecutive_nonfinite += 1
                    window.nonfinite += 1
                    if consecutive_nonfinite >= config.run.max_nonfinite:
                        raise TrainingError(
                            f"the loss was not finite for {consecutive_nonfinite} steps in a row "
                            f"(step {step}); lower optim.base_lr or use run.precision=bf16/fp32"
                        )
                else:
                    consecutive_nonfinite = 0
                    unwrap(model).after_backward(step)
                    scaler.unscale_(optimizer)
                    logs_next = (step + 1) % config.run.log_every == 0 or step + 1 == last_step
                    if config.optim.clip_grad or logs_next:  # the norm is a pass over all grads
                        window.grad_norm = _clip(model, config.optim.clip_grad)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                step += 1
                finite = torch.ones((), dtype=torch.bool, device=device)
                if logger is not None:
                    logger.advance()
                if step % config.run.log_every == 0 or step == last_step:
                    scalars = window.flush(lr, info)
                    if logger is not None:
                        logger.log(step, scalars)
                        losses.append(scalars["loss"])
                if info.is_main and (step % config.run.save_every == 0 or step == last_step):
                    state = {
                        "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(),
                        "nonfinite_total": nonfinite_total,
                    }
                    save_checkpoint(run_dir, step, model, state, config.run.keep_last)
                if step >= last_step:
                    break
                wait_start = time.perf_counter()
    finally:
        if logger is not None:
            logger.close()

    in_sync = ranks_in_sync(model, info)
    elapsed = time.perf_counter() - started
    done = step - start_step
    summary = {
        "run_dir": str(run_dir),
        "steps": step,
        "steps_this_session": done,
        "seconds": round(elapsed, 1),
        "clips_per_s": round(done * plan.global_batch / info.world_size / max(elapsed, 1e-9), 2),
        "global_batch": plan.global_batch,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "nonfinite_steps_skipped": nonfinite_total,
        "bad_files_skipped": len(skips.bad),
        "world_size": info.world_size,
        "ranks_in_sync": in_sync,
        "checkpoint": None,
    }
    if info.is_main:
        saved = list_checkpoints(run_dir)
        summary["checkpoint"] = str(saved[-1]) if saved else None
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        log(
            f"done: {step} steps ({done} this session) in {elapsed:.0f} s, "
            f"{summary['clips_per_s']} clips/s; "
            f"loss {summary['loss_first']} -> {summary['loss_last']}; "
            f"{nonfinite_total} non-finite step(s) skipped; {skips.summary()}; "
            f"checkpoint {summary['checkpoint']}"
        )
    return summary


def ranks_in_sync(model: nn.Module, info: DistInfo) -> bool:
    """True if every rank holds the same weights (checked by a checksum all-reduce)."""
    if not info.enabled:
        return True
    with torch.no_grad():
        total = torch.stack([p.double().sum() for p in unwrap(model).parameters()]).sum()
        high, low = total.clone(), total.clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return bool(high == low)


def _resume_point(run_dir: Path, resume: str | None) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        found = list_checkpoints(run_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not path.is_dir():
        raise ValueError(f"--resume {resume}: not a checkpoint folder (or use --resume auto)")
    return path


def _clip(model: nn.Module, max_norm: float | None) -> torch.Tensor:
    """Total gradient norm; gradients are clipped to ``max_norm`` when it is set."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if max_norm:
        return torch.nn.utils.clip_grad_norm_(grads, max_norm)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


class _Window:
    """Metrics summed over the steps between two log lines (tensors; synced when flushed)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.clips = 0
        self.wait = 0.0
        self.skipped = 0
        self.nonfinite = 0
        self.grad_norm: torch.Tensor | None = None
        self.started = time.perf_counter()

    def add(self, metrics: dict[str, torch.Tensor], clips: int) -> None:
        for key, value in metrics.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += 1
        self.clips += clips

    def flush(self, lr: float, info: DistInfo) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        scalars = {k: float(all_mean(v / max(self.count, 1), info)) for k, v in self.sums.items()}
        scalars.update(
            lr=lr,
            clips_per_s=self.clips * info.world_size / elapsed,
            data_wait_s=self.wait,
            skipped_samples=float(self.skipped),
            nonfinite_steps=float(self.nonfinite),
        )
        if self.grad_norm is not None:
            scalars["grad_norm"] = float(self.grad_norm)
        self.reset()
        return scalars
