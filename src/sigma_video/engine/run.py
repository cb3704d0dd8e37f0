"""Run set-up shared by every recipe: device, output folder, resume point and its config
check, run files, and the end-of-run consistency check."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from sigma_video.checkpoint_format import damage
from sigma_video.config import config_changes, load_config, save_config, session_keys, to_dict
from sigma_video.engine.checkpoint import list_checkpoints, unwrap
from sigma_video.engine.distributed import DistInfo, init_distributed

T = TypeVar("T")


def main_rank_first(
    info: DistInfo, load: Callable[[Callable[[str], None]], T], log: Callable[[str], None]
) -> T:
    """``load(log)`` on the main rank first (it may generate the embedded dataset, and only
    it logs), then on the other ranks."""
    value = load(log) if info.is_main else None
    if info.enabled:
        dist.barrier()
        if value is None:
            value = load(lambda _: None)
    return value


def write_run_files(
    config: Any,
    info: DistInfo,
    resume: str | None,
    overwrite: bool,
    files: dict[str, Any] | None = None,
) -> None:
    """On the main rank, once everything is checked: the run folder (``prepare_run_dir``),
    ``config.json`` and each of ``files`` (file name -> JSON value, or the text of the file)."""
    if not info.is_main:
        return
    run_dir = prepare_run_dir(config, resume, overwrite)
    save_config(config, run_dir / "config.json")
    for name, value in (files or {}).items():
        if isinstance(value, str):
            (run_dir / name).write_text(value, encoding="utf-8")
        else:
            write_json(run_dir / name, value)


def seed_ranks(seed: int, info: DistInfo, step: int) -> None:
    """Give ranks other than 0 their own global RNG stream (drop path, dropout), as
    VideoMAE's ``seed + rank``; rank 0 keeps its own (or its restored) state, so a
    single-process run resumes bit for bit."""
    if info.rank > 0:
        torch.manual_seed(seed + 1_000_003 * info.rank + step)


def write_json(path: Path, value: Any) -> None:
    """Write a JSON file atomically (temporary name, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


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


RUN_FILES = (
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "report.md",
    "report.json",
    "config_changes.jsonl",
    "classifier.json",
)


def prepare_run_dir(config: Any, resume: str | None, overwrite: bool) -> Path:
    """Check the output folder before anything is written; refuse to mix two runs.

    A folder without a checkpoint is not a run (a start that failed or was stopped before
    its first checkpoint): it is reused without ``--overwrite``. Replacing a run
    (``--overwrite``, or such a leftover) clears its checkpoints, logs and TensorBoard
    events, so two runs' curves never mix."""
    run_dir = Path(config.run.output)
    existing = run_dir / "config.json"
    is_run = existing.exists() and bool(list_checkpoints(run_dir))
    if is_run and resume is None and not overwrite:
        raise ValueError(
            f"{run_dir} already holds a run; pass --resume auto to continue it or --overwrite "
            "to replace it"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(
            f"cannot write to output directory {run_dir}: {err.strerror or err}"
        ) from None
    if resume is None and (overwrite or not is_run):
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        shutil.rmtree(run_dir / "tensorboard", ignore_errors=True)
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
    return run_dir


def resume_config(saved: Path, config: Any, allow_changes: bool, record: bool = True) -> Any:
    """The config to resume a run with: ``config`` (resolved: values derived at run time
    filled in) when it matches the run's saved one, leaving aside the session keys
    (``sigma_video.config.session_keys``: workers, logging, checkpoint cadence), which may
    change. Settings that differ are refused in one line unless ``allow_changes``, and then
    (``record``: on the main rank) appended to ``RUN/config_changes.jsonl`` with the time."""
    # the saved file read through the same loader (earlier key names mapped to today's)
    own = load_config(str(saved), cls=type(config))
    changes = config_changes(to_dict(own), to_dict(config), session_keys(type(config)))
    if not changes:
        return config
    listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items())
    if not allow_changes:
        raise ValueError(
            f"resuming {saved.parent} with settings that differ from the run's own ({listed}); "
            "drop them, or pass --allow-changes to resume with them"
        )
    if record:
        with open(saved.parent / "config_changes.jsonl", "a", encoding="utf-8") as handle:
            entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "changes": changes}
            handle.write(json.dumps(entry) + "\n")
    return config


def checked_resume(config: Any, start: Path | None, allow_changes: bool, info: DistInfo) -> Any:
    """``config`` for a run that resumes from checkpoint ``start`` (None: it starts
    afresh, nothing to check): resolved, it must match the run's own (``resume_config``)."""
    saved = Path(config.run.output) / "config.json"
    if start is not None and saved.exists():
        return resume_config(saved, config, allow_changes, record=info.is_main)
    return config


def ranks_in_sync(model: nn.Module, info: DistInfo) -> bool:
    """True if every rank holds the same weights (checked by a checksum all-reduce)."""
    if not info.enabled:
        return True
    with torch.no_grad():
        total = torch.stack([p.double().sum() for p in unwrap(model).parameters()]).sum()
        high, low = total.clone(), total.clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return bool(high == low)


def resume_point(
    run_dir: Path, resume: str | None, log: Callable[[str], None] = print
) -> Path | None:
    """The checkpoint to resume from: ``--resume auto`` takes the newest whole checkpoint
    of ``run_dir`` (None if there is none): one found damaged (``checkpoint_format.damage``) is
    passed over with a warning line, as a requeued job cannot be asked; a named folder is
    taken as it is (a damaged one is refused when loaded)."""
    if resume is None:
        return None
    if resume == "auto":
        for path in reversed(list_checkpoints(run_dir)):
            problem = damage(path)
            if problem is None:
                return path
            log(f"warning: checkpoint {path} is damaged ({problem}); trying the one before")
        if list_checkpoints(run_dir):
            raise ValueError(
                f"every checkpoint of {run_dir} is damaged (above); pass --overwrite to start "
                "the run again"
            )
        return None
    path = Path(resume)
    if not path.is_dir():
        raise ValueError(f"--resume {resume}: not a checkpoint folder (or use --resume auto)")
    return path
