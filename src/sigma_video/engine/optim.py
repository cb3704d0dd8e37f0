"""AdamW with the reference's parameter groups."""

from __future__ import annotations

import inspect

import torch
from torch import nn

NO_DECAY_NAMES = ("pos_embed", "mask_token", "cls_token")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: decayed weights, and biases / norms / 1-D parameters / tables / mask token
    without weight decay (VideoMAE's rule; the prototypes are 2-D and decayed, like the
    reference). Frozen parameters are left out."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.endswith(".bias") or any(k in name for k in NO_DECAY_NAMES)
        (no_decay if skip else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay, "decayed": True},
        {"params": no_decay, "weight_decay": 0.0, "decayed": False},
    ]


def build_optimizer(
    model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float]
) -> torch.optim.AdamW:
    """AdamW, fused when every parameter is on a device that supports it."""
    groups = parameter_groups(model, weight_decay)
    devices = {p.device.type for g in groups for p in g["params"]}
    fused = "fused" in inspect.signature(torch.optim.AdamW).parameters and devices <= {"cuda"}
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused or None)
