"""Checkpointing as one component (``Checkpointer``) and the model side of it: the plain
module inside wrappers, its savable weights (frozen pretrained parts left out), loading
them back, RNG states. The file format itself (atomic folders, listing, safe loading,
metadata) is ``sigma_video.checkpoint_format``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from sigma_video.checkpoint_format import (
    PREFIX,
    list_checkpoints,
    load_checkpoint,
    write_checkpoint,
)
from sigma_video.engine.parallel import is_sharded
from sigma_video.state_dict import check_fit

__all__ = [
    "PREFIX",
    "Checkpointer",
    "Stateful",
    "all_finite",
    "frozen_prefixes",
    "list_checkpoints",
    "load_checkpoint",
    "load_weights_into",
    "rng_state",
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


class Stateful(Protocol):
    """What a checkpoint saves and restores: an optimizer, a grad scaler, a sampler."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@dataclass
class Checkpointer:
    """A run's checkpoints, as torchtitan's manager over ``Stateful`` objects: ``save``
    writes ``run_dir/checkpoints/step_N`` atomically (``checkpoint_format``) and keeps the
    newest ``keep_last``; ``load`` restores one.

    A checkpoint holds the plain model's weights (frozen pretrained parts left out) in
    ``model.safetensors``, whose header carries ``metadata`` — what the weights are (the
    encoder's config, the clip it was trained on: ``io.load`` builds the model from a lone
    folder or file with it) — and in ``state.pt`` each of the ``states`` (name -> a
    ``Stateful``'s ``state_dict()``, or a plain value), the step and the RNG states.
    """

    run_dir: Path
    keep_last: int = 3
    metadata: dict[str, str] = field(default_factory=dict)

    def save(self, step: int, model: nn.Module, states: dict[str, Any]) -> Path | None:
        """Write step ``step``; refuses (ValueError) weights that hold NaN or Inf. A model
        sharded with FSDP2 is saved by every rank (``engine.sharded``); the path is the main
        rank's answer (None on the others)."""
        if is_sharded(model):
            from sigma_video.engine.sharded import save_sharded

            return save_sharded(self, step, model, states)
        if not all_finite(model):
            raise ValueError(f"refusing to save step {step}: the weights hold NaN or Inf")
        state = {name: _saved(value) for name, value in states.items()}
        state.update(step=step, rng=rng_state())
        return write_checkpoint(
            self.run_dir, step, weights(model), state, self.keep_last, self.metadata
        )

    def load(self, path: Path, model: nn.Module, states: dict[str, Stateful]) -> dict[str, Any]:
        """Restore checkpoint ``path`` into ``model``, each of ``states`` (those it holds:
        a checkpoint without a grad scaler leaves it as it is) and the RNGs; returns the
        whole saved state (``step`` and the plain values among it)."""
        if is_sharded(model):
            from sigma_video.engine.sharded import load_sharded

            return load_sharded(path, model, states)
        tensors, state = load_checkpoint(path)
        if "optimizer" in states and "optimizer" not in state:
            raise ValueError(
                f"{path} was written with run.parallel=fsdp (its optimizer state is sharded); "
                "resume it with run.parallel=fsdp"
            )
        try:
            load_weights_into(model, tensors)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        for name, target in states.items():
            if name in state:
                target.load_state_dict(state[name])
        set_rng_state(state["rng"])
        return state


def _saved(value: Any) -> Any:
    return value.state_dict() if hasattr(value, "state_dict") else value
