"""File writing shared by checkpoints, caches and exports."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import save_file


def umask_mode(directory: bool = False) -> int:
    """The mode a new file (``0o644`` under umask 022) or folder (``0o755``) gets from the
    process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def save_tensors(
    tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None
) -> None:
    """``safetensors.torch.save_file``, with the permissions of any other new file:
    safetensors creates its files ``0600``, so colleagues sharing a cluster could not read
    the weights that ``torch.save`` files beside them leave readable."""
    save_file(tensors, str(path), metadata=metadata)
    os.chmod(path, umask_mode())
