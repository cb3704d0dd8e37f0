"""What a run reports: metrics averaged over a log window, and the end-of-run summary."""

from __future__ import annotations

import time
from typing import Any

import torch

from sigma_video.engine.distributed import DistInfo, all_mean


class MetricsWindow:
    """Metrics summed over the steps between two log lines (tensors; synced when flushed)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.clips = 0
        self.wait = 0.0
        self.skipped = 0
        self.nonfinite = 0
        self.grad_norm: torch.Tensor | None = None
        self.started = time.perf_counter()

    def add(self, metrics: dict[str, torch.Tensor], clips: int) -> None:
        for key, value in metrics.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += 1
        self.clips += clips

    def flush(self, lr: float, info: DistInfo) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        scalars = {k: float(all_mean(v / max(self.count, 1), info)) for k, v in self.sums.items()}
        scalars.update(
            lr=lr,
            clips_per_s=self.clips * info.world_size / elapsed,  # all ranks together
            world_size=float(info.world_size),
            data_wait_s=self.wait,
            skipped_samples=float(self.skipped),
            nonfinite_steps=float(self.nonfinite),
        )
        if self.grad_norm is not None:
            scalars["grad_norm"] = float(self.grad_norm)
        self.reset()
        return scalars


def run_history(
    sessions: list[dict[str, Any]], losses: list[float], previous: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """What a checkpoint records of the run so far, for the summary of a later session:
    ``sessions`` (earlier ones, then this one up to the checkpoint), ``loss_first`` (the
    run's first logged loss) and the ``extra`` entries (e.g. a collapse warning)."""
    first = previous.get("loss_first", losses[0] if losses else None)
    return {"sessions": sessions, "loss_first": first, **extra}


def history_at_resume(
    history: dict[str, Any], saved_summary: dict[str, Any] | None, step: int
) -> dict[str, Any]:
    """The history of a run resumed at ``step`` from a checkpoint's ``history``: the last
    session is the one that wrote the checkpoint. If the run's ``summary.json`` ends at that
    step, that session ended there cleanly and its summary's record (time, signal) is taken;
    otherwise it went on after the checkpoint and was killed (or failed): its record ends at
    the checkpoint, ``stopped_by`` ``"killed"``. A checkpoint without a history (written
    before one was kept) falls back to the summary's."""
    if saved_summary is not None and saved_summary.get("steps") == step:
        return saved_summary
    sessions = history.get("sessions", [])
    if not sessions:
        return saved_summary or {}
    return {**history, "sessions": [*sessions[:-1], {**sessions[-1], "stopped_by": "killed"}]}


def run_summary(
    *,
    run_dir: str,
    session: dict[str, Any],
    previous: dict[str, Any],
    global_batch: int,
    world_size: int,
    losses: list[float],
    collapse_warning: dict | None,
    **entries: Any,
) -> dict[str, Any]:
    """The end-of-run summary. ``session`` is this start (``start_step``, ``end_step``,
    ``seconds``, ``stopped_by``); ``previous`` the summary of the run's earlier sessions
    (resumed runs: ``sessions`` lists every start, ``seconds_total`` adds them up and
    ``loss_first`` is the run's first); ``entries`` are added as they are. ``clips_per_s``
    counts the clips of all ranks together (as in ``metrics.jsonl``), ``world_size`` beside
    it."""
    sessions = [*previous.get("sessions", []), session]
    done, elapsed = session["end_step"] - session["start_step"], session["seconds"]
    return {
        "run_dir": run_dir,
        "steps": session["end_step"],
        "steps_this_session": done,
        "seconds": elapsed,
        "clips_per_s": round(done * global_batch / max(elapsed, 1e-9), 2),  # all ranks
        "global_batch": global_batch,
        "loss_first": previous.get("loss_first", losses[0] if losses else None),
        "loss_last": losses[-1] if losses else None,
        "stopped_by": session["stopped_by"],
        "sessions": sessions,
        "seconds_total": round(sum(x["seconds"] for x in sessions), 1),
        "collapse_warning": collapse_warning or previous.get("collapse_warning"),
        "world_size": world_size,
        **entries,
    }
