"""File writing shared by checkpoints, caches and exports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file


def first_line(err: BaseException, limit: int = 200) -> str:
    """An exception's first line of text (its type's name when it has none), shortened."""
    text = getattr(err, "strerror", None) or str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:limit]


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file whole or not at all: a temporary name beside it, on disk, then a
    rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def safe_torch_load(path: str | Path, what: str, allowed: tuple[type, ...] = ()) -> Any:
    """``torch.load(weights_only=True)`` (only tensors, containers and ``allowed`` classes:
    no pickled code runs) with one-line errors: ``"{what} {path} not found"`` or
    ``"refusing to load {what} {path}: ..."``."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{what} {path} not found") from None
    except Exception as err:  # unpickling refusals and corrupt files alike
        raise ValueError(
            f"refusing to load {what} {path}: it is not a plain weights file ({first_line(err)})"
        ) from None


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
