"""Checkpoints of a model sharded with FSDP2, in the same folder layout as every run's.

Every rank writes its shards of the weights and AdamW state with
``torch.distributed.checkpoint`` (DCP) into the checkpoint's ``shards/`` folder; the main
rank adds the whole weights, gathered, as ``model.safetensors`` (so the folder loads like
any other: ``load_model``, ``--init``, evaluation) and ``state.pt`` (step, grad scaler,
counters, RNG states). DCP reshards on load, so a run saved on N ranks resumes on M.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint import DefaultLoadPlanner
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from sigma_video.checkpoint_format import CheckpointWriteError, load_checkpoint, write_checkpoint
from sigma_video.engine.parallel import local

SHARDS = "shards"
_TRAINED = StateDictOptions(ignore_frozen_params=True)


def _finite_everywhere(model: nn.Module, device: torch.device) -> bool:
    finite = all(bool(torch.isfinite(local(p)).all()) for p in model.parameters())
    flag = torch.tensor(int(finite), device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag)


def _agreed(ok: bool, device: torch.device) -> bool:
    flag = torch.tensor(int(ok), device=device)
    dist.broadcast(flag, 0)
    return bool(flag)


def save_sharded(
    checkpointer: Any, step: int, model: nn.Module, states: dict[str, Any]
) -> Path | None:
    """Every rank: the sharded weights and optimizer, then the main rank's whole-weights
    file and ``state.pt``; the folder appears at once, complete (``write_checkpoint``)."""
    from sigma_video.engine.checkpoint import _saved, frozen_prefixes, rng_state

    device = next(p for p in model.parameters()).device
    if not _finite_everywhere(model, device):
        raise ValueError(f"refusing to save step {step}: the weights hold NaN or Inf")
    main = dist.get_rank() == 0
    root = Path(checkpointer.run_dir) / "checkpoints"
    shards = root / f".shards-step_{step:08d}"
    if main:
        shutil.rmtree(shards, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    optimizer = states["optimizer"]
    model_state, optim_state = get_state_dict(model, optimizer, options=_TRAINED)
    dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=str(shards))
    whole = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    path, error = None, None
    if main:
        skip = frozen_prefixes(model)
        tensors = {k: v.contiguous() for k, v in whole.items() if not k.startswith(skip)}
        state = {name: _saved(v) for name, v in states.items() if name != "optimizer"}
        state.update(step=step, rng=rng_state(), world_size=dist.get_world_size())
        try:
            path = write_checkpoint(
                checkpointer.run_dir,
                step,
                tensors,
                state,
                checkpointer.keep_last,
                checkpointer.metadata,
                folders={SHARDS: shards},
            )
        except Exception as err:  # told to every rank, which would otherwise wait forever
            error = err
    if not _agreed(error is None, device):
        if error is not None:
            raise error
        raise CheckpointWriteError(f"the main rank could not write checkpoint step {step}")
    return path


def load_sharded(path: Path, model: nn.Module, states: dict[str, Any]) -> dict[str, Any]:
    """Restore a checkpoint into a sharded model and its optimizer (resharded to this run's
    ranks) and the other ``states`` from ``state.pt``; returns the saved state."""
    from sigma_video.engine.checkpoint import set_rng_state

    path = Path(path)
    if not (path / SHARDS).is_dir():
        raise ValueError(
            f"{path} was written with run.parallel=ddp (no sharded state); resume it with "
            "run.parallel=ddp"
        )
    optimizer = states["optimizer"]
    model_state, optim_state = get_state_dict(model, optimizer, options=_TRAINED)
    shards = str(path / SHARDS)
    model_target, optim_target = {"model": model_state}, {"optimizer": optim_state}
    dcp.load(model_target, checkpoint_id=shards)
    # AdamW keeps no state for parameters that never had a gradient (φ or the prototypes
    # while frozen): those keep the fresh, empty state the optimizer starts with
    dcp.load(
        optim_target, checkpoint_id=shards, planner=DefaultLoadPlanner(allow_partial_load=True)
    )
    set_state_dict(
        model,
        optimizer,
        model_state_dict=model_target["model"],
        optim_state_dict=optim_target["optimizer"],
        options=_TRAINED,
    )
    held = dcp.FileSystemReader(shards).read_metadata().state_dict_metadata
    for name, parameter in model.named_parameters():
        if parameter.requires_grad and f"optimizer.state.{name}.step" not in held:
            optimizer.state.pop(parameter, None)  # as a fresh AdamW: no state until its step
    _, state = load_checkpoint(path, weights=False)  # the weights came from the shards
    for name, value in states.items():
        if name != "optimizer" and name in state:
            value.load_state_dict(state[name])
    set_rng_state(state["rng"])
    return state
