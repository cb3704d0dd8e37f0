"""``Context``: what a run knows before anything is built (the device, the ranks, the
checkpoint it resumes from, the log); a recipe builds with it and the loop opens with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from sigma_video.engine.distributed import DistInfo, main_rank_first

T = TypeVar("T")


@dataclass
class Context:
    """What a recipe may use while it builds: the device, the ranks, the checkpoint the run
    resumes from (None: a fresh start), the log (every rank's lines reach only the main
    rank's log)."""

    device: torch.device
    info: DistInfo
    start: Path | None
    log: Callable[[str], None]

    def say(self, line: str) -> None:
        """A line in the log, from the main rank only."""
        if self.info.is_main:
            self.log(line)

    def main_rank_first(self, load: Callable[[Callable[[str], None]], T]) -> T:
        """``load(log)`` on the main rank first (it may generate data), then the others."""
        return main_rank_first(self.info, load, self.log)
