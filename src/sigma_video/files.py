"""File writing shared by checkpoints, caches and exports."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import save_file


def umask_mode() -> int:
    """The mode a new file gets from the process umask (``0o644`` under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_tensors(
    tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None
) -> None:
    """``safetensors.torch.save_file``, with the permissions of any other new file:
    safetensors creates its files ``0600``, so colleagues sharing a cluster could not read
    the weights that ``torch.save`` files beside them leave readable."""
    save_file(tensors, str(path), metadata=metadata)
    os.chmod(path, umask_mode())
