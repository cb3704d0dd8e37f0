"""Per-step schedules (pure functions), as VideoMAE/SIGMA's ``cosine_scheduler``."""

from __future__ import annotations

import math


def cosine_schedule(
    step: int,
    total_steps: int,
    warmup_steps: int,
    base: float,
    final: float,
    warmup_start: float = 0.0,
) -> float:
    """Value at ``step``: linear warm-up from ``warmup_start`` to ``base`` over
    ``warmup_steps`` (both ends included, like ``np.linspace``), then a half cosine from
    ``base`` down to ``final`` over the remaining steps; ``final`` after the end."""
    if step < warmup_steps:
        if warmup_steps == 1:
            return warmup_start
        return warmup_start + (base - warmup_start) * step / (warmup_steps - 1)
    decay_steps = total_steps - warmup_steps
    if decay_steps <= 0 or step >= total_steps:
        return final
    progress = (step - warmup_steps) / decay_steps
    return final + 0.5 * (base - final) * (1 + math.cos(math.pi * progress))
