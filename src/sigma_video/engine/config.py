"""Engine settings every training recipe shares: the optimizer and its schedule
(``[optim]``) and how a run is kept (``[run]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _at_least_one(section: Any, prefix: str, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(section, name) < 1:
            raise ValueError(f"{prefix}.{name} must be >= 1, got {getattr(section, name)}")


@dataclass
class OptimConfig:
    """AdamW with per-step warm-up + cosine, as VideoMAE/SIGMA.

    ``batch_size`` is per process and micro-step; the global batch is
    ``batch_size · accum_steps · world_size`` (times ``data.num_sample``), and ``base_lr``,
    ``min_lr`` and ``warmup_lr`` are scaled by global batch / 256. The warm-up rises linearly
    from ``warmup_lr`` (0, as the official scripts: they never pass their ``--warmup_lr`` to
    the scheduler) to the base lr. ``max_steps`` ends a run early (the schedule still spans
    ``epochs``).
    """

    epochs: int = 800
    warmup_epochs: float = 40.0
    batch_size: int = 32
    accum_steps: int = 1
    base_lr: float = 1.5e-4
    min_lr: float = 1e-5
    warmup_lr: float = 0.0
    weight_decay: float = 0.05
    weight_decay_end: float | None = None
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float | None = None
    max_steps: int | None = None

    # where a session stops, not what a step computes: a resume may move it
    SESSION_KEYS = ("max_steps",)

    def __post_init__(self) -> None:
        _at_least_one(self, "optim", ("epochs", "batch_size", "accum_steps"))
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(
                f"optim.warmup_epochs must be in [0, epochs], got {self.warmup_epochs}"
            )
        if self.base_lr <= 0:
            raise ValueError(f"optim.base_lr must be > 0, got {self.base_lr}")


@dataclass
class BaseRunConfig:
    """Where outputs go and how the run behaves.

    ``precision="auto"``: bf16 autocast on CUDA, fp32 on CPU; ``fp16`` adds a grad scaler.
    ``tf32``: float32 matrix products that stay float32 under autocast (the prototype scores)
    use TF32 tensor cores on CUDA — a 10-bit mantissa, as the reference's fp16 autocast.
    ``save_every``/``log_every`` count optimizer steps; ``save_every_minutes`` (0: off) also
    saves when that much time has passed since the last checkpoint, so a pre-empted job
    loses little. SIGINT, SIGTERM or SIGUSR1 end a run after its current step with a
    checkpoint (``--resume auto`` continues it).
    """

    output: str = "runs/sigma"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    tf32: bool = True
    log_every: int = 10
    save_every: int = 1000
    save_every_minutes: float = 0.0
    keep_last: int = 3
    max_nonfinite: int = 5
    tensorboard: bool = True
    progress: bool = True

    # how a session logs and saves, not what it trains: a resume may change them
    SESSION_KEYS = (
        "log_every",
        "save_every",
        "save_every_minutes",
        "keep_last",
        "tensorboard",
        "progress",
    )

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"run.precision must be one of {PRECISIONS}, got {self.precision!r}")
        _at_least_one(self, "run", ("log_every", "save_every", "keep_last", "max_nonfinite"))
        if not self.save_every_minutes >= 0:
            raise ValueError(f"run.save_every_minutes must be >= 0, got {self.save_every_minutes}")
