"""AdamW with the reference's parameter groups."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

NO_DECAY_NAMES = ("pos_embed", "mask_token", "cls_token")


def parameter_groups(
    model: nn.Module, weight_decay: float, lr_scale: Callable[[str], float] | None = None
) -> list[dict]:
    """Decayed weights, and biases / norms / 1-D parameters / tables / mask token without
    weight decay (VideoMAE's rule; the prototypes are 2-D and decayed, like the reference).
    With ``lr_scale(name)`` (layer-wise decay) there is one such pair per distinct scale,
    each group carrying its ``lr_scale``. Frozen parameters are left out."""
    groups: dict[tuple[float, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.endswith(".bias") or any(k in name for k in NO_DECAY_NAMES)
        scale = 1.0 if lr_scale is None else lr_scale(name)
        group = groups.setdefault(
            (scale, not skip),
            {
                "params": [],
                "weight_decay": 0.0 if skip else weight_decay,
                "decayed": not skip,
                "lr_scale": scale,
            },
        )
        group["params"].append(param)
    return sorted(groups.values(), key=lambda g: (-g["lr_scale"], not g["decayed"]))


def build_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    lr_scale: Callable[[str], float] | None = None,
) -> torch.optim.AdamW:
    """AdamW, fused when every parameter is on a device that supports it."""
    groups = parameter_groups(model, weight_decay, lr_scale)
    devices = {p.device.type for g in groups for p in g["params"]}
    fused = "fused" in inspect.signature(torch.optim.AdamW).parameters and devices <= {"cuda"}
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused or None)
