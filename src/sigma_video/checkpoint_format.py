"""The run checkpoint format: weights in safetensors, training state in a weights-only
torch file.

A checkpoint is a folder ``checkpoints/step_00001234`` holding ``model.safetensors`` (the
plain model's keys: DDP's ``module.`` and ``torch.compile``'s ``_orig_mod.`` never appear)
and ``state.pt`` (optimizer, grad scaler, counters and RNG states — tensors, numbers and
tuples only, loaded with ``torch.load(weights_only=True)``, so no pickled code runs). It is
written under a temporary name and renamed into place, so a run killed at any moment leaves
either the whole checkpoint or none.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from sigma_video.files import first_line, save_tensors

PREFIX = "step_"


def write_checkpoint(
    run_dir: str | Path,
    step: int,
    tensors: dict[str, torch.Tensor],
    state: dict[str, Any],
    keep_last: int = 3,
    metadata: dict[str, str] | None = None,
    folders: dict[str, Path] | None = None,
) -> Path:
    """Write ``checkpoints/step_<step>`` atomically (``tensors`` to ``model.safetensors``
    with ``metadata`` and the step in its header, ``state`` to ``state.pt``, both fsynced)
    and keep the newest ``keep_last``. ``folders`` (name -> a folder already written, e.g.
    the sharded state) are moved in under their names before the checkpoint appears."""
    root = Path(run_dir) / "checkpoints"
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        header = {**(metadata or {}), "step": str(step)}
        save_tensors(tensors, tmp / "model.safetensors", metadata=header)
        torch.save(state, tmp / "state.pt")
        for path in (tmp / "model.safetensors", tmp / "state.pt"):
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        for name, folder in (folders or {}).items():
            os.replace(folder, tmp / name)
    except (OSError, RuntimeError) as err:  # torch.save reports a full disk as RuntimeError
        line = write_failure(root, final.name, err)  # while the disk is still full
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind
        for folder in (folders or {}).values():
            shutil.rmtree(folder, ignore_errors=True)
        raise CheckpointWriteError(line) from None
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, a quota); the earlier ones are
    intact."""


def write_failure(root: Path, name: str, err: BaseException) -> str:
    """One line for a checkpoint that could not be written, naming the one a resume uses."""
    full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
    with contextlib.suppress(OSError):
        full = full or shutil.disk_usage(root).free < 1 << 20
    why = "no space left on device" if full else f"an error ({first_line(err)})"
    kept = list_checkpoints(root.parent)
    intact = f"{kept[-1].name} is intact" if kept else "no earlier checkpoint exists"
    return f"{why} while writing checkpoint {name}; {intact}"


def damage(path: str | Path) -> str | None:
    """Why a checkpoint folder cannot be whole, found from its files' headers and sizes
    without reading the tensors; None when it looks whole (``load_checkpoint`` still
    reports anything else)."""
    path = Path(path)
    weights = path / "model.safetensors"
    try:
        with open(weights, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        if os.path.getsize(weights) != 8 + size + max(ends, default=0):
            return "model.safetensors is cut short"
        with zipfile.ZipFile(path / "state.pt") as archive:
            archive.infolist()
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        return first_line(err)
    return None


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata in the header of a safetensors file (``{}`` if it has none), read
    without the tensors."""
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


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


def load_checkpoint(
    path: str | Path, weights: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(weights, state)`` of a checkpoint folder, without executing pickled code; with
    ``weights=False`` the weights file is not read (``{}``: a sharded resume reads its
    shards instead)."""
    path = Path(path)
    try:
        model_state = load_file(str(path / "model.safetensors")) if weights else {}
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise ValueError(
            f"{path} is not a complete checkpoint: {err.filename} is missing"
        ) from None
    except Exception as err:
        raise ValueError(f"cannot load checkpoint {path}: {first_line(err)}") from None
    return model_state, state
