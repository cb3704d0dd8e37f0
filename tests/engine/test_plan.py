"""Each ``optim.*`` key of the step arithmetic changes the run's plan or its per-step lr and
weight decay (the values ``set_schedule`` gives the optimizer's groups)."""

import dataclasses

import pytest
import torch
from torch import nn

from sigma_video.engine.config import OptimConfig
from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.plan import make_plan, set_schedule

BASE = OptimConfig(epochs=10, warmup_epochs=2, batch_size=4)  # 64 samples: 16 steps an epoch
SCALE = 4 / 256  # lrs scale with the global batch


def schedule(optim):
    """The plan of 64 samples on one process, and each step's (lr, decayed groups' wd)."""
    plan = make_plan(optim, 64, 1)
    model = nn.Sequential(nn.Linear(2, 2))
    optimizer = build_optimizer(model, plan.lr, optim.weight_decay, optim.betas)
    lrs, wds = [], []
    for step in range(plan.total_steps):
        set_schedule(optimizer, plan, optim, step)
        decayed = next(g for g in optimizer.param_groups if g["decayed"])
        lrs.append(decayed["lr"])
        wds.append(decayed["weight_decay"])
    return plan, lrs, wds


@pytest.mark.parametrize(
    ("key", "value", "check"),
    [
        ("epochs", 20, lambda p, lrs, wds: p.total_steps == len(lrs) == 20 * 16),
        (
            "warmup_epochs",
            4.0,
            lambda p, lrs, wds: p.warmup_steps == 64 and lrs.index(max(lrs)) == 63,
        ),
        ("batch_size", 8, lambda p, lrs, wds: (p.steps_per_epoch, p.global_batch) == (8, 8)),
        ("base_lr", 3e-4, lambda p, lrs, wds: max(lrs) == pytest.approx(3e-4 * SCALE)),
        ("min_lr", 1e-4, lambda p, lrs, wds: lrs[-1] == pytest.approx(1e-4 * SCALE, rel=1e-3)),
        ("warmup_lr", 1e-4, lambda p, lrs, wds: lrs[0] == pytest.approx(1e-4 * SCALE)),
        ("weight_decay", 0.1, lambda p, lrs, wds: set(wds) == {0.1}),
        (
            "weight_decay_end",
            0.2,
            lambda p, lrs, wds: (wds[0], wds[-1]) == pytest.approx((0.05, 0.2), abs=1e-4),
        ),
    ],
)
def test_optim_key_changes_the_schedule(key, value, check):
    assert getattr(BASE, key) != value
    assert check(*schedule(dataclasses.replace(BASE, **{key: value})))
    assert not check(*schedule(BASE))  # the check tells the two apart


def test_weight_decay_leaves_the_no_decay_groups_alone():
    optim = dataclasses.replace(BASE, weight_decay=0.1, weight_decay_end=0.3)
    plan = make_plan(optim, 64, 1)
    optimizer = build_optimizer(nn.Linear(2, 2), plan.lr, optim.weight_decay, optim.betas)
    for step in (0, plan.total_steps - 1):
        set_schedule(optimizer, plan, optim, step)
        assert {g["weight_decay"] for g in optimizer.param_groups if not g["decayed"]} == {0.0}
    assert isinstance(optimizer, torch.optim.AdamW)
