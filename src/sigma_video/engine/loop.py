"""The optimizer-step loop shared by pretraining and fine-tuning.

``Loop.run(loader, forward)`` steps AdamW over micro-batches: gradient accumulation (DDP
gradients synchronised on the last micro-batch only), autocast, a grad scaler for fp16,
non-finite steps skipped (one host sync per optimizer step) and the run stopped after
``run.max_nonfinite`` in a row, the per-step lr/wd schedule, windowed metrics, logging and
atomic checkpoints. What a step computes is the caller's ``forward(batch, step)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sigma_video.data.collate import collate
from sigma_video.data.dataset import SkipCounter
from sigma_video.engine.checkpoint import list_checkpoints, save_checkpoint, unwrap
from sigma_video.engine.collapse import CollapseMonitor
from sigma_video.engine.distributed import DistInfo, all_mean
from sigma_video.engine.logger import RunLogger
from sigma_video.engine.run import ranks_in_sync, restore, seed_ranks, write_json
from sigma_video.engine.sampler import RunSampler
from sigma_video.engine.schedule import cosine_schedule
from sigma_video.engine.stop import StopRequest, ignore_stop_signals

Forward = Callable[[dict, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingError(RuntimeError):
    """The run cannot go on (e.g. the loss stays non-finite)."""


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


def make_plan(optim: Any, num_samples: int, world: int, views: int = 1) -> Plan:
    """Steps and scaled learning rates for ``num_samples`` per epoch over ``world`` ranks;
    ``views`` clips per sample (repeated augmentation) count in the global batch."""
    micro = num_samples // (optim.batch_size * world)
    steps = micro // optim.accum_steps
    if steps < 1:
        raise ValueError(
            f"{num_samples} samples are fewer than one global batch of "
            f"{optim.batch_size * world * optim.accum_steps}; lower optim.batch_size or "
            "accum_steps"
        )
    global_batch = optim.batch_size * optim.accum_steps * world * views
    scale = global_batch / 256
    return Plan(
        micro_batches_per_epoch=steps * optim.accum_steps,
        steps_per_epoch=steps,
        total_steps=optim.epochs * steps,
        warmup_steps=round(optim.warmup_epochs * steps),
        global_batch=global_batch,
        lr=optim.base_lr * scale,
        min_lr=optim.min_lr * scale,
        warmup_lr=optim.warmup_lr * scale,
    )


def set_schedule(optimizer: torch.optim.Optimizer, plan: Plan, optim: Any, step: int) -> float:
    """Set every group's lr (times its ``lr_scale``, layer-wise decay) and the decayed
    groups' weight decay for ``step``; returns the base lr."""
    lr = cosine_schedule(
        step, plan.total_steps, plan.warmup_steps, plan.lr, plan.min_lr, plan.warmup_lr
    )
    wd = optim.weight_decay
    if optim.weight_decay_end is not None:
        wd = cosine_schedule(step, plan.total_steps, 0, wd, optim.weight_decay_end)
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
        if group["decayed"]:
            group["weight_decay"] = wd
    return lr


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 autocast on CUDA and fp32 elsewhere."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def open_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    plan: Plan,
    device: torch.device,
    info: DistInfo,
    optim: Any,
    run_config: Any,
    num_samples: int,
    max_bad_fraction: float,
    resume_from: Path | None = None,
    log: Callable[[str], None] = print,
) -> Loop:
    """The ``Loop`` of a run whose folder is prepared: grad scaler, state restored from
    ``resume_from``, per-rank RNG streams, ``torch.compile``/DDP wrapping, step budget,
    logger (main rank) and bad-sample counter."""
    precision = resolve_precision(run_config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    run_dir = Path(run_config.output)
    step, nonfinite = 0, 0
    if resume_from is not None:
        step, nonfinite = restore(resume_from, model, optimizer, scaler)
        if info.is_main:
            log(f"resuming from {resume_from} (step {step})")
    seed_ranks(run_config.seed, info, step)  # drop path differs between ranks
    net: nn.Module = torch.compile(model) if run_config.compile else model
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
    last_step = plan.total_steps
    if optim.max_steps is not None:
        last_step = min(last_step, optim.max_steps)
    logger = (
        RunLogger(run_dir, last_step, step, run_config.tensorboard, run_config.progress)
        if info.is_main
        else None
    )
    return Loop(
        model=model,
        net=net,
        optimizer=optimizer,
        scaler=scaler,
        device=device,
        info=info,
        optim=optim,
        run_config=run_config,
        plan=plan,
        run_dir=run_dir,
        last_step=last_step,
        skips=SkipCounter(num_samples, max_bad_fraction),
        autocast_dtype=AUTOCAST.get(precision),
        logger=logger,
        step=step,
        start_step=step,
        nonfinite_total=nonfinite,
    )


@dataclasses.dataclass
class Loop:
    """Everything a training run steps with; ``run`` advances ``step`` in place."""

    model: nn.Module  # the plain model (checkpoints, hooks)
    net: nn.Module  # what is called: maybe compiled and/or DDP-wrapped
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    info: DistInfo
    optim: Any  # OptimConfig-like: accum_steps, clip_grad, schedule fields
    run_config: Any  # RunConfig-like: log_every, save_every, keep_last, max_nonfinite
    plan: Plan
    run_dir: Path
    last_step: int
    skips: SkipCounter
    autocast_dtype: torch.dtype | None = None
    logger: RunLogger | None = None
    monitor: CollapseMonitor | None = None  # pretraining: warns once on a collapse
    stopped_by: str | None = None  # the signal that stopped the run early
    saved_step: int = -1
    saved_at: float = dataclasses.field(default_factory=time.perf_counter)
    step: int = 0
    start_step: int = 0
    nonfinite_total: int = 0
    losses: list[float] = dataclasses.field(default_factory=list)
    started: float = dataclasses.field(default_factory=time.perf_counter)

    def loader(self, dataset: Dataset, workers: int) -> DataLoader:
        """One loader for the rest of the run (workers persist across epochs), resuming
        the sample order at ``step``. It has its own generator, so making its iterator
        does not draw from the global RNG (which drop path uses and a checkpoint restores)."""
        o = self.optim
        sampler = RunSampler(
            len(dataset),
            o.batch_size,
            self.run_config.seed,
            self.plan.micro_batches_per_epoch,
            o.epochs,
            self.info.rank,
            self.info.world_size,
            start=self.step * o.accum_steps,
        )
        return DataLoader(
            dataset,
            batch_size=o.batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            timeout=600 if workers else 0,
            worker_init_fn=ignore_stop_signals,
            generator=torch.Generator().manual_seed(0),
        )

    def close(self) -> None:
        if self.logger is not None:
            self.logger.close()

    def finish(self, **extra: Any) -> dict[str, Any]:
        """The end-of-run summary (``extra`` entries added), written to ``summary.json``
        on the main rank; checks that all ranks hold the same weights. A resumed run's
        summary covers the whole run: ``sessions`` lists each start (steps, seconds, what
        stopped it), ``seconds_total`` adds them up and ``loss_first`` is the run's first."""
        elapsed = time.perf_counter() - self.started
        done, world = self.step - self.start_step, self.info.world_size
        before = self.run_dir / "summary.json"
        previous = json.loads(before.read_text()) if self.start_step and before.exists() else {}
        sessions = [
            *previous.get("sessions", []),
            {
                "start_step": self.start_step,
                "end_step": self.step,
                "seconds": round(elapsed, 1),
                "stopped_by": self.stopped_by,
            },
        ]
        summary = {
            "run_dir": str(self.run_dir),
            "steps": self.step,
            "steps_this_session": done,
            "seconds": round(elapsed, 1),
            "clips_per_s": round(done * self.plan.global_batch / world / max(elapsed, 1e-9), 2),
            "global_batch": self.plan.global_batch,
            "loss_first": previous.get("loss_first", self.losses[0] if self.losses else None),
            "loss_last": self.losses[-1] if self.losses else None,
            **extra,
            "stopped_by": self.stopped_by,
            "sessions": sessions,
            "seconds_total": round(sum(x["seconds"] for x in sessions), 1),
            "collapse_warning": (self.monitor.warning if self.monitor is not None else None)
            or previous.get("collapse_warning"),
            "nonfinite_steps_skipped": self.nonfinite_total,
            "bad_files_skipped": len(self.skips.bad),
            "world_size": world,
            "ranks_in_sync": ranks_in_sync(self.model, self.info),
            "checkpoint": None,
        }
        if self.info.is_main:
            saved = list_checkpoints(self.run_dir)
            summary["checkpoint"] = str(saved[-1]) if saved else None
            write_json(self.run_dir / "summary.json", summary)
        return summary

    def stopped_line(self) -> str:
        """What a run stopped by a signal tells its user (one line)."""
        saved = list_checkpoints(self.run_dir)
        where = f"checkpoint {saved[-1]}" if saved else "no checkpoint"
        return (
            f"stopped by {self.stopped_by} after step {self.step}: {where}; "
            "continue with --resume auto"
        )

    def run(
        self,
        loader: Iterable[dict],
        forward: Forward,
        after_step: Callable[[int], None] | None = None,
    ) -> None:
        """Consume ``loader`` until ``last_step``; ``after_step(step)`` runs after each
        optimizer step (after logging and saving), e.g. for an end-of-epoch evaluation.

        A stop signal (``engine.stop``) ends the run after the current step with a
        checkpoint; ``stopped_by`` then names the signal."""
        if self.step >= self.last_step:
            return
        with StopRequest() as stop:
            self._run(loader, forward, after_step, stop)

    def _run(
        self,
        loader: Iterable[dict],
        forward: Forward,
        after_step: Callable[[int], None] | None,
        stop: StopRequest,
    ) -> None:
        accum = self.optim.accum_steps
        window = _Window()
        consecutive_nonfinite, micro, lr = 0, 0, 0.0
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        wait_start = time.perf_counter()
        for batch in loader:
            if micro == 0:
                lr = set_schedule(self.optimizer, self.plan, self.optim, self.step)
            window.wait += time.perf_counter() - wait_start
            self.skips.update(batch["skipped"])
            window.skipped += len(batch["skipped"])
            last_micro = micro == accum - 1
            sync = (
                contextlib.nullcontext()
                if last_micro or not self.info.enabled
                else self.net.no_sync()
            )
            autocast = torch.autocast(
                self.device.type,
                dtype=self.autocast_dtype,
                enabled=self.autocast_dtype is not None,
            )
            with sync, autocast:
                loss, metrics = forward(batch, self.step)
                finite &= torch.isfinite(loss)
                self.scaler.scale(loss / accum).backward()
            window.add(metrics, len(batch["video"]))
            micro += 1
            if not last_micro:
                wait_start = time.perf_counter()
                continue
            micro = 0
            all_finite, stopping = self._agree(finite, stop.signal_name is not None)
            if all_finite:
                consecutive_nonfinite = 0
                self._optimizer_step(window)
            else:
                self.optimizer.zero_grad(set_to_none=True)
                self.nonfinite_total += 1
                consecutive_nonfinite += 1
                window.nonfinite += 1
                if consecutive_nonfinite >= self.run_config.max_nonfinite:
                    raise TrainingError(
                        f"the loss was not finite for {consecutive_nonfinite} steps in a row "
                        f"(step {self.step}); lower optim.base_lr or use run.precision=bf16/fp32"
                    )
            self.step += 1
            finite = torch.ones((), dtype=torch.bool, device=self.device)
            self._book(window, lr)
            if after_step is not None:
                paused = time.perf_counter()
                after_step(self.step)
                window.started += time.perf_counter() - paused  # not training throughput
            if self.step >= self.last_step:
                break
            if stopping:
                self.stopped_by = stop.signal_name or "a signal on another rank"
                if self.info.is_main and self.saved_step != self.step:
                    self.save()
                break
            wait_start = time.perf_counter()

    def _agree(self, finite: torch.Tensor, stop_wanted: bool) -> tuple[bool, bool]:
        """``(every rank's loss was finite, some rank was asked to stop)``: one collective
        and one host sync per optimizer step, so all ranks skip and stop together."""
        if not self.info.enabled:
            return bool(finite), stop_wanted
        keep = torch.tensor(int(not stop_wanted), dtype=torch.int32, device=self.device)
        flags = torch.stack([finite.to(torch.int32), keep])
        dist.all_reduce(flags, op=dist.ReduceOp.MIN)
        all_finite, all_keep = flags.tolist()
        return bool(all_finite), not all_keep

    def _optimizer_step(self, window: _Window) -> None:
        plain = unwrap(self.model)
        if hasattr(plain, "after_backward"):
            plain.after_backward(self.step)
        self.scaler.unscale_(self.optimizer)
        log_every = self.run_config.log_every
        logs_next = (self.step + 1) % log_every == 0 or self.step + 1 == self.last_step
        if self.optim.clip_grad or logs_next:  # the norm is a pass over all gradients
            window.grad_norm = _clip(self.model, self.optim.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def _book(self, window: _Window, lr: float) -> None:
        step, run = self.step, self.run_config
        if self.logger is not None:
            self.logger.advance()
        if step % run.log_every == 0 or step == self.last_step:
            scalars = window.flush(lr, self.info)
            warning = self.monitor.update(step, scalars) if self.monitor is not None else None
            if warning is not None:
                scalars["collapse_warning"] = 1.0
            if self.logger is not None:
                if warning is not None:
                    self.logger.write(warning)
                self.logger.log(step, scalars)
                self.losses.append(scalars["loss"])
        minutes = run.save_every_minutes
        overdue = minutes > 0 and time.perf_counter() - self.saved_at >= 60 * minutes
        if self.info.is_main and (step % run.save_every == 0 or step == self.last_step or overdue):
            self.save()

    def save(self) -> Path:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "nonfinite_total": self.nonfinite_total,
        }
        path = save_checkpoint(
            self.run_dir, self.step, self.model, state, self.run_config.keep_last
        )
        self.saved_step, self.saved_at = self.step, time.perf_counter()
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
