"""Resuming a run: the checkpoint to resume from (``--resume auto`` or a named folder), and
the check that the resolved config is the run's own (session settings aside)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigma_video.checkpoint_format import damage
from sigma_video.config import config_changes, load_config, session_keys, to_dict
from sigma_video.engine.checkpoint import list_checkpoints
from sigma_video.engine.distributed import DistInfo


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
