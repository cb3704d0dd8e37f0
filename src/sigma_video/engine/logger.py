"""Run logging: ``metrics.jsonl``, TensorBoard scalars and a progress bar. Main rank only.

The bar is for terminals; when stdout is a file or a pipe (a Slurm log), each log window
prints one plain line instead of a redrawn bar (tqdm would write megabytes per run)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm


class RunLogger:
    def __init__(
        self, run_dir: Path, total_steps: int, start_step: int, tensorboard: bool, progress: bool
    ) -> None:
        self.jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tensorboard"))
        self.plain = progress and not sys.stdout.isatty()
        self.total, self.start_step, self.started = total_steps, start_step, time.perf_counter()
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            disable=not progress or self.plain,
            unit="step",
            dynamic_ncols=True,
        )

    def log(self, step: int, scalars: dict[str, float]) -> None:
        self.jsonl.write(json.dumps({"step": step, **scalars}) + "\n")
        self.jsonl.flush()
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, step)
        shown = {"loss": ".4f", "lr": ".2e", "clips_per_s": ".1f", "val_top1": ".1f"}
        postfix = {k: f"{scalars[k]:{f}}" for k, f in shown.items() if k in scalars}
        if postfix:
            self.bar.set_postfix(postfix)
        if self.plain:
            print(plain_line(step, self.total, self.start_step, self.started, postfix), flush=True)

    def advance(self, steps: int = 1) -> None:
        self.bar.update(steps)

    def write(self, message: str) -> None:
        if self.plain:
            print(message, flush=True)
        else:
            self.bar.write(message)

    def close(self, summary: dict[str, Any] | None = None) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
        self.jsonl.close()


def plain_line(
    step: int, total: int, start_step: int, started: float, shown: dict[str, str]
) -> str:
    """``step 120/600 (20%) loss 7.1200 lr 6.25e-04 clips/s 85.3 eta 1m40s``."""
    done = step - start_step
    elapsed = time.perf_counter() - started
    eta = elapsed / done * (total - step) if done > 0 else 0.0
    minutes, seconds = divmod(int(eta), 60)
    values = " ".join(f"{k} {v}" for k, v in shown.items())
    share = 100 * step // max(total, 1)
    return f"step {step}/{total} ({share}%) {values} eta {minutes}m{seconds:02d}s"
