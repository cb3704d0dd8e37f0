"""Collapse monitor: one warning when the target features or the prototype usage stay
collapsed over several log windows (their mean over the last windows is below a threshold).

Signals (from the windowed metrics the objectives log, see ``losses.diagnostics``):

- ``feature_spread`` × √D — the spread of φ's L2-normalised features relative to random
  directions in D dimensions (≈ 1 for random directions, 0 when every tube maps to the same
  vector). Low means φ collapsed (the deep-feature L2 objective of Eq. 2 drives it to 0).
- ``prototypes_in_use`` / min(K, tubes in the batch) — the share of prototypes that receive
  an argmax code. The equipartition keeps it high while the codes still carry information.
- ``score_usage_entropy`` / log K — how evenly φ's raw scores spread over the prototypes; 0
  when φ sends every tube to one prototype.

A healthy run stays above the thresholds on average and prints nothing: a dip of the score
entropy as the warm-up ends that recovers within a few windows is normal (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

HELP = (
    "what helps at small scale: a lower optim.base_lr, keeping φ fixed through the warm-up "
    "(model.target.freeze_epochs=1), a longer warm-up, a larger optim.batch_size; see "
    "docs/pretraining.md, 'Reading the training metrics'"
)


@dataclass(frozen=True)
class CollapseThresholds:
    """A window is collapsed when any signal is below its threshold."""

    spread: float = 0.1  # feature_spread × √D
    usage: float = 0.1  # prototypes_in_use / min(K, tubes per batch)
    score_entropy: float = 0.05  # score_usage_entropy / log K
    windows: int = 10  # the signals are judged by their mean over this many log windows


def collapse_signals(
    scalars: dict[str, float], dim: int, num_prototypes: int | None, tubes_per_batch: int
) -> dict[str, float]:
    """The normalised signals present in ``scalars`` (each ≈ 1 healthy, 0 collapsed).

    Args:
        scalars: one log window's metrics (``feature_spread``, ``prototypes_in_use``,
            ``score_usage_entropy`` when the objective logs them).
        dim: D, the width of φ's features.
        num_prototypes: K, or None for objectives without prototypes.
        tubes_per_batch: masked tubes in one (micro-)batch on all ranks.
    """
    out = {}
    if "feature_spread" in scalars:
        out["spread"] = scalars["feature_spread"] * math.sqrt(dim)
    if num_prototypes and "prototypes_in_use" in scalars:
        out["usage"] = scalars["prototypes_in_use"] / max(1, min(num_prototypes, tubes_per_batch))
    if num_prototypes and num_prototypes > 1 and "score_usage_entropy" in scalars:
        out["score_entropy"] = scalars["score_usage_entropy"] / math.log(num_prototypes)
    return out


class CollapseMonitor:
    """Feed it every log window; it returns a one-line warning the first time the mean of a
    signal over the last ``thresholds.windows`` windows is below its threshold, and None
    otherwise (also before that many windows were seen). ``warning`` keeps what was found
    (for ``summary.json``)."""

    def __init__(
        self,
        dim: int,
        num_prototypes: int | None,
        tubes_per_batch: int,
        thresholds: CollapseThresholds = CollapseThresholds(),
    ) -> None:
        if thresholds.windows < 1:
            raise ValueError(f"collapse windows must be >= 1, got {thresholds.windows}")
        self.dim, self.num_prototypes = dim, num_prototypes
        self.tubes_per_batch = tubes_per_batch
        self.thresholds = thresholds
        self.recent: deque[dict[str, float]] = deque(maxlen=thresholds.windows)
        self.warning: dict | None = None

    def update(self, step: int, scalars: dict[str, float]) -> str | None:
        self.recent.append(
            collapse_signals(scalars, self.dim, self.num_prototypes, self.tubes_per_batch)
        )
        if self.warning is not None or len(self.recent) < self.thresholds.windows:
            return None
        names = set.intersection(*(set(window) for window in self.recent))
        means = {k: sum(window[k] for window in self.recent) / len(self.recent) for k in names}
        low = {k: v for k, v in means.items() if v < getattr(self.thresholds, k)}
        if not low:
            return None
        self.warning = {
            "step": step,
            "windows": len(self.recent),
            **{k: round(v, 4) + 0.0 for k, v in low.items()},  # + 0.0: no -0.0
        }
        found = ", ".join(
            f"{k} {v + 0.0:.3f} < {getattr(self.thresholds, k)}" for k, v in sorted(low.items())
        )
        return (
            f"warning: collapse at step {step}, mean of {len(self.recent)} log windows ({found}; "
            f"≈ 1 is healthy); {HELP}"
        )
