"""Checkpoints: weights in safetensors, training state in a weights-only torch file.

A checkpoint is a folder ``checkpoints/step_00001234`` holding ``model.safetensors`` (the
plain model's keys: DDP's ``module.`` and ``torch.compile``'s ``_orig_mod.`` never appear)
and ``state.pt`` (optimizer, grad scaler, counters and RNG states — tensors, numbers and
tuples only, loaded with ``torch.load(weights_only=True)``, so no pickled code runs). It is
written under a temporary name and renamed into place, so a run killed at any moment leaves
either the whole checkpoint or none.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from sigma_video.files import save_tensors

PREFIX = "step_"


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
    skip = frozen_prefixes(model)
    missing, unexpected = unwrap(model).load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(skip)]
    if missing or unexpected:
        raise ValueError(
            f"the checkpoint does not fit this model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )


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
    """Write ``checkpoints/step_<step>`` atomically and keep the newest ``keep_last``.

    Refuses (ValueError) to write weights that hold NaN or Inf.
    """
    if not all_finite(model):
        raise ValueError(f"refusing to save step {step}: the weights hold NaN or Inf")
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_tensors(weights(model), tmp / "model.safetensors", metadata={"step": str(step)})
    torch.save({**state, "step": step, "rng": rng_state()}, tmp / "state.pt")
    for path in (tmp / "model.safetensors", tmp / "state.pt"):
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary folders are ignored)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.name.startswith(PREFIX)
        and (p / "model.safetensors").exists()
        and (p / "state.pt").exists()
    ]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(weights, state)`` of a checkpoint folder, without executing pickled code."""
    path = Path(path)
    try:
        model_state = load_file(str(path / "model.safetensors"))
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise ValueError(
            f"{path} is not a complete checkpoint: {err.filename} is missing"
        ) from None
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot load checkpoint {path}: {reason[:200]}") from None
    return model_state, state
