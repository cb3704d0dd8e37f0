"""The run folder: checked and prepared before anything is written (two runs never mix),
the run's files written into it, and JSON files written atomically."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from sigma_video.config import save_config
from sigma_video.engine.checkpoint import list_checkpoints
from sigma_video.engine.distributed import DistInfo
from sigma_video.files import atomic_write_text

RUN_FILES = (
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "report.md",
    "report.json",
    "config_changes.jsonl",
    "classifier.json",
)


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


def write_json(path: Path, value: Any) -> None:
    """Write a JSON file atomically (temporary name, then rename)."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


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
