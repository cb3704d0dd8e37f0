"""Data parallelism: DDP (every rank holds the whole model) or FSDP2 (``run.parallel =
"fsdp"``: ``fully_shard`` per unit the model names, then the root, so each rank holds
1/world of the weights, gradients and AdamW state between uses).

A model says which submodules are its FSDP units with ``shard_units()`` (the transformer
blocks; without it only the root is one unit). Parameters that never train (a frozen DINO φ)
are left out of FSDP: they stay whole, in float32, on every rank. Under bf16 the units
gather bf16 weights and reduce float32 gradients
(``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor


def shard(model: nn.Module, bf16: bool, reshard_after_forward: bool = True) -> nn.Module:
    """``model`` sharded in place over the default process group (call after the model is
    on its device and before the optimizer is built: the parameters become DTensors)."""
    policy = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if bf16 else None,
        reduce_dtype=torch.float32 if bf16 else None,
    )
    frozen = {p for p in model.parameters() if not p.requires_grad}
    units = model.shard_units() if hasattr(model, "shard_units") else []
    for unit in units:
        fully_shard(
            unit,
            mp_policy=policy,
            reshard_after_forward=reshard_after_forward,
            ignored_params=frozen & set(unit.parameters()) or None,
        )
    fully_shard(model, mp_policy=policy, reshard_after_forward=False, ignored_params=frozen or None)
    return model


def is_sharded(model: nn.Module) -> bool:
    return isinstance(model, FSDPModule)


@contextlib.contextmanager
def gradient_sync(model: nn.Module, sync: bool) -> Iterator[None]:
    """Within it, a backward pass reduces gradients across ranks only if ``sync`` (the
    last micro-batch of an accumulated step): DDP's ``no_sync`` or FSDP2's
    ``set_requires_gradient_sync``; a plain model has nothing to sync."""
    if sync:
        yield
    elif isinstance(model, FSDPModule):
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    elif isinstance(model, nn.parallel.DistributedDataParallel):
        with model.no_sync():
            yield
    else:
        yield


def local(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's part of a DTensor, the tensor itself otherwise."""
    return tensor.to_local() if isinstance(tensor, DTensor) else tensor


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole value of a DTensor (a collective), the tensor itself otherwise."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor
