"""Run logging: ``metrics.jsonl``, TensorBoard scalars and a progress bar. Main rank only."""

from __future__ import annotations

import json
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
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            disable=not progress,
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

    def advance(self, steps: int = 1) -> None:
        self.bar.update(steps)

    def write(self, message: str) -> None:
        self.bar.write(message)

    def close(self, summary: dict[str, Any] | None = None) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
        self.jsonl.close()
