"""The model side of checkpoints: the plain module inside wrappers, its savable weights
(frozen pretrained parts left out), loading them back, RNG states. The file format itself
(atomic folders, listing, safe loading) is ``sigma_video.io.checkpoint``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sigma_video.io.checkpoint import PREFIX, list_checkpoints, load_checkpoint, write_checkpoint
from sigma_video.state_dict import check_fit

__all__ = [
    "PREFIX",
    "all_finite",
    "frozen_prefixes",
    "list_checkpoints",
    "load_checkpoint",
    "load_weights_into",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "unwrap",
    "weights",
]


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DDP and/or ``torch.compile`` wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def frozen_prefixes(model: nn.Module) -> tuple[str, ...]:
    plain = unwrap(model)
    return plain.frozen_prefixes() if hasattr(plain, "frozen_prefixes") else ()


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The plain model's state dict on the CPU, without frozen pretrained parts (DINO)."""
    skip = frozen_prefixes(model)
    return {
        k: v.detach().contiguous().cpu()
        for k, v in unwrap(model).state_dict().items()
        if not k.startswith(skip)
    }


def load_weights_into(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load checkpoint weights; only the frozen parts left out at saving may be missing."""
    plain = unwrap(model)
    skip = frozen_prefixes(plain)
    expected = {k: v for k, v in plain.state_dict().items() if not k.startswith(skip)}
    check_fit(expected, state, "the checkpoint", "this model", strict=True)
    plain.load_state_dict(state, strict=False)


def all_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in unwrap(model).parameters())


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(i) for i in x) if isinstance(x, list | tuple) else x


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: nn.Module,
    state: dict[str, Any],
    keep_last: int = 3,
) -> Path:
    """Write ``checkpoints/step_<step>`` atomically (``io.checkpoint``) with the RNG states
    and keep the newest ``keep_last``. Refuses (ValueError) weights that hold NaN or Inf.
    """
    if not all_finite(model):
        raise ValueError(f"refusing to save step {step}: the weights hold NaN or Inf")
    full = {**state, "step": step, "rng": rng_state()}
    return write_checkpoint(run_dir, step, weights(model), full, keep_last)
