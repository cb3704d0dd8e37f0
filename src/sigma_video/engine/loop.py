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
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from sigma_video.data.dataset import SkipCounter
from sigma_video.engine.checkpoint import save_checkpoint, unwrap
from sigma_video.engine.distributed import DistInfo, all_mean
from sigma_video.engine.logger import RunLogger
from sigma_video.engine.schedule import cosine_schedule

Forward = Callable[[dict, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]


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
    step: int = 0
    nonfinite_total: int = 0
    losses: list[float] = dataclasses.field(default_factory=list)

    def run(
        self,
        loader: Iterable[dict],
        forward: Forward,
        after_step: Callable[[int], None] | None = None,
    ) -> None:
        """Consume ``loader`` until ``last_step``; ``after_step(step)`` runs after each
        optimizer step (after logging and saving), e.g. for an end-of-epoch evaluation."""
        if self.step >= self.last_step:
            return
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
            if self._all_finite(finite):  # one host sync per optimizer step
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
            wait_start = time.perf_counter()

    def _all_finite(self, finite: torch.Tensor) -> bool:
        if self.info.enabled:
            flag = finite.to(torch.int32)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            finite = flag.bool()
        return bool(finite)

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
            if self.logger is not None:
                self.logger.log(step, scalars)
                self.losses.append(scalars["loss"])
        if self.info.is_main and (step % run.save_every == 0 or step == self.last_step):
            self.save()

    def save(self) -> Path:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "nonfinite_total": self.nonfinite_total,
        }
        return save_checkpoint(
            self.run_dir, self.step, self.model, state, self.run_config.keep_last
        )


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
