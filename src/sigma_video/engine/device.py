"""The run's device: ``auto`` resolved, this rank's GPU under ``torchrun`` (the process
group joined), and TF32 for float32 matmuls and convolutions on CUDA."""

from __future__ import annotations

from typing import Any

import torch

from sigma_video.engine.distributed import DistInfo, init_distributed


def set_tf32(device: torch.device, enabled: bool) -> None:
    """TF32 tensor cores for float32 matmuls and convolutions on CUDA (no effect on CPU)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def start_device(run_config: Any) -> tuple[torch.device, DistInfo]:
    """The run's device (``run.device``; this rank's GPU under torchrun), the process
    group joined when launched by torchrun, and ``run.tf32`` applied."""
    device = resolve_device(run_config.device)
    info = init_distributed(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    set_tf32(device, run_config.tf32)
    return device, info


def resolve_device(name: str, option: str = "run.device") -> torch.device:
    """``auto`` is CUDA when there is one, else the CPU; ``option`` names the setting in
    the error for a CUDA device on a machine without one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        sep = " " if option.startswith("--") else "="
        raise ValueError(
            f"{option}{sep}{name} but this machine has no CUDA device; use {option}{sep}cpu"
        )
    return device
