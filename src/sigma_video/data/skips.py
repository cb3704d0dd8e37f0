"""Bad samples across a run: the error that stops it and the counter that decides when.

A sample that cannot be decoded is replaced by another and reported in its batch's
``skipped`` list (by ``VideoClips`` in a loader worker, or by ``StepDecoder``), so the main
process counts bad files across all workers and stops when too large a share is bad.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)


class DataError(RuntimeError):
    """Too many bad samples: the data, not one file, is the problem."""


class SkipCounter:
    """Counts bad samples reported in batches; stops the run when too many are bad.

    Raises ``DataError`` listing the first few paths once more than ``max_fraction`` of the
    ``total`` samples (and at least ``min_count``) have failed. A bad path stands for
    ``samples_of(path)`` samples (default 1: a file; a tar shard stands for its samples).
    """

    def __init__(
        self,
        total: int,
        max_fraction: float = 0.05,
        min_count: int = 10,
        samples_of: Callable[[str], int] | None = None,
    ) -> None:
        self.total, self.max_fraction, self.min_count = total, max_fraction, min_count
        self.samples_of = samples_of or (lambda _: 1)
        self.bad: dict[str, str] = {}
        self.bad_samples = 0
        self.events = 0

    def update(self, skipped: Sequence[tuple[str, str]]) -> None:
        for path, reason in skipped:
            self.events += 1
            if path not in self.bad:
                self.bad[path] = reason
                self.bad_samples += self.samples_of(path)
                logger.warning("skipping bad file %s: %s", path, reason)
        if self.bad_samples > max(self.min_count, self.max_fraction * self.total):
            first = "; ".join(f"{p}: {r}" for p, r in list(self.bad.items())[:5])
            raise DataError(
                f"{self.bad_samples} of {self.total} samples are unreadable (more than "
                f"{self.max_fraction:.0%}); first: {first}"
            )

    def summary(self) -> str:
        held = f" holding {self.bad_samples} samples" if self.bad_samples != len(self.bad) else ""
        return f"{len(self.bad)} bad file(s){held} skipped ({self.events} replacement(s))"
