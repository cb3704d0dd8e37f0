"""Step arithmetic of a run (pure): steps per epoch, warm-up, scaled learning rates, the
per-step lr/wd schedule, and the autocast dtype of a precision setting."""

from __future__ import annotations

import dataclasses

import torch

from sigma_video.engine.config import OptimConfig
from sigma_video.engine.schedule import cosine_schedule

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def make_plan(optim: OptimConfig, num_samples: int, world: int, views: int = 1) -> Plan:
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


def set_schedule(
    optimizer: torch.optim.Optimizer, plan: Plan, optim: OptimConfig, step: int
) -> float:
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
