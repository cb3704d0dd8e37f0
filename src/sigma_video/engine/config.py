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
    """epochs of the lr/wd schedule (`max_steps` may end the run earlier)"""
    warmup_epochs: float = 40.0
    """epochs of linear warm-up, counted in steps"""
    batch_size: int = 32
    """clips per process and micro-step; the global batch is `batch_size · accum_steps ·
    world_size`"""
    accum_steps: int = 1
    """micro-batches accumulated into one optimizer step"""
    base_lr: float = 1.5e-4
    """peak lr, scaled by global batch / 256"""
    min_lr: float = 1e-5
    """lr at the end of the cosine, scaled by global batch / 256"""
    warmup_lr: float = 0.0
    """lr the warm-up starts from, scaled by global batch / 256"""
    weight_decay: float = 0.05
    """AdamW weight decay of weights (biases, norms, position tables, mask token: 0)"""
    weight_decay_end: float | None = None
    """cosine weight-decay schedule from `weight_decay` to this (`none`: constant)"""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas"""
    clip_grad: float | None = None
    """clip the total gradient norm to this (`none`: no clipping)"""
    max_steps: int | None = None
    """end the run after this many optimizer steps (the schedule still spans `epochs`)"""

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
    """the run folder: `config.json`, `metrics.jsonl`, `summary.json`, `checkpoints/`,
    `tensorboard/`"""
    seed: int = 0
    """seed of everything random in the run: the weights, the sample order, crops, augmentation,
    masks, erasing and mixing"""
    device: str = "auto"
    """`auto` (CUDA when there is one, else the CPU), `cpu`, `cuda`, `cuda:N`"""
    precision: str = "auto"
    """`auto` (bf16 autocast on CUDA, fp32 on the CPU), `fp32`, `bf16`, `fp16` (with a grad
    scaler)"""
    compile: bool = False
    """`torch.compile` the model (checkpoints keep the plain keys)"""
    tf32: bool = True
    """TF32 tensor cores for float32 matrix products on CUDA"""
    log_every: int = 10
    """optimizer steps per `metrics.jsonl` row / TensorBoard point / log line"""
    save_every: int = 1000
    """optimizer steps between checkpoints (and one at the end)"""
    save_every_minutes: float = 0.0
    """also save when this many minutes passed since the last checkpoint (0: off)"""
    keep_last: int = 3
    """checkpoints kept (older ones deleted)"""
    max_nonfinite: int = 5
    """non-finite losses in a row (steps skipped) before the run stops"""
    tensorboard: bool = True
    """write TensorBoard scalars to `RUN/tensorboard`"""
    progress: bool = True
    """a progress bar on a terminal, one plain line per log window in a file or pipe"""

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
