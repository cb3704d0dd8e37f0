"""The optimizer-step loop shared by pretraining and fine-tuning, shaped like torchtitan's.

``Loop.train_step(micro_batches, forward)`` is one optimizer step: the micro-batches'
forward and backward under autocast (DDP gradients synchronised on the last one only), one
agreement between ranks on a finite loss and on a stop request (one collective, one host
sync), the AdamW step (or a skipped step, and the run stopped after ``run.max_nonfinite``
in a row), then the metrics window, logging and checkpoints. ``Loop.run(loader, forward)``
feeds it ``optim.accum_steps`` micro-batches at a time until the last step or a stop
signal. What a step computes is the caller's ``forward(batch, step)``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sigma_video.data.collate import collate
from sigma_video.data.skips import SkipCounter
from sigma_video.engine.checkpoint import Checkpointer, list_checkpoints, unwrap
from sigma_video.engine.config import BaseRunConfig, OptimConfig
from sigma_video.engine.context import Context
from sigma_video.engine.distributed import DistInfo, all_sum, ranks_in_sync, seed_ranks
from sigma_video.engine.logger import RunLogger
from sigma_video.engine.metrics import MetricsWindow, history_at_resume, run_history, run_summary
from sigma_video.engine.parallel import full, gradient_sync, is_sharded
from sigma_video.engine.plan import AUTOCAST, Plan, set_schedule
from sigma_video.engine.run_dir import write_json
from sigma_video.engine.sampler import RunSampler
from sigma_video.engine.stop import StopRequest, detach_worker

Forward = Callable[[dict, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class Monitor(Protocol):
    """Watches the logged scalars of a run: ``update`` returns a warning line the first
    time something is wrong (written to the log, ``collapse_warning`` in the summary)."""

    warning: str | None

    def update(self, step: int, scalars: dict[str, float]) -> str | None: ...


__all__ = [
    "Faults",
    "Forward",
    "History",
    "Loop",
    "Precision",
    "Progress",
    "Saves",
    "TrainingError",
    "open_loop",
]


class TrainingError(RuntimeError):
    """The run cannot go on (e.g. the loss stays non-finite)."""


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 autocast on CUDA and fp32 elsewhere."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def open_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    plan: Plan,
    context: Context,
    *,
    optim: OptimConfig,
    run: BaseRunConfig,
    skips: SkipCounter,
    metadata: dict[str, str] | None = None,
) -> Loop:
    """The ``Loop`` of a run whose folder is prepared, on ``context``'s device and ranks:
    grad scaler, checkpointer (its checkpoints' ``metadata``), state restored from the
    checkpoint ``context.start``, per-rank RNG streams, ``torch.compile``/DDP wrapping, step
    budget, logger (main rank); ``skips`` counts the bad samples."""
    device, info, log = context.device, context.info, context.log
    precision = resolve_precision(run.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    run_dir = Path(run.output)
    checkpointer = Checkpointer(run_dir, run.keep_last, metadata or {})
    step, nonfinite, history = 0, 0, {}
    if context.start is not None:
        state = checkpointer.load(context.start, model, {"optimizer": optimizer, "scaler": scaler})
        step, nonfinite = int(state["step"]), int(state["nonfinite_total"])
        summary = run_dir / "summary.json"
        known = json.loads(summary.read_text()) if summary.exists() else None
        # the run's sessions up to this checkpoint ({} for checkpoints that predate them)
        history = history_at_resume(state.get("history", {}), known, step)
        if info.is_main:
            log(f"resuming from {context.start} (step {step})")
    seed_ranks(run.seed, info, step)  # drop path differs between ranks
    net: nn.Module = torch.compile(model) if run.compile else model
    if info.enabled and not is_sharded(model):
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
    last_step = plan.total_steps
    if optim.max_steps is not None:
        last_step = min(last_step, optim.max_steps)
    logger = (
        RunLogger(run_dir, last_step, step, run.tensorboard, run.progress) if info.is_main else None
    )
    return Loop(
        model=model,
        net=net,
        optimizer=optimizer,
        precision=Precision(AUTOCAST.get(precision), scaler),
        device=device,
        info=info,
        optim=optim,
        run_config=run,
        plan=plan,
        run_dir=run_dir,
        progress=Progress(step=step, last_step=last_step, start_step=step),
        saves=Saves(checkpointer, run.save_every, run.save_every_minutes),
        faults=Faults(skips, nonfinite_total=nonfinite),
        history=History(previous=history),
        logger=logger,
    )


@dataclasses.dataclass
class Precision:
    """How a step computes: the dtype it autocasts to (None: float32, no autocast) and
    the grad scaler (enabled for fp16 only)."""

    autocast_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler

    def autocast(self, device: torch.device) -> torch.autocast:
        return torch.autocast(
            device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None
        )


@dataclasses.dataclass
class Progress:
    """Where the run stands: the optimizer ``step`` (``Loop.train_step`` advances it), the
    ``last_step`` it runs to, the step and time this session started at, and the signal
    that stopped the session early (None: none did)."""

    step: int
    last_step: int
    start_step: int
    started: float = dataclasses.field(default_factory=time.perf_counter)
    stopped_by: str | None = None

    def session(self) -> dict:
        """This session's record so far: steps, seconds, the signal that stopped it."""
        return {
            "start_step": self.start_step,
            "end_step": self.step,
            "seconds": round(time.perf_counter() - self.started, 1),
            "stopped_by": self.stopped_by,
        }


@dataclasses.dataclass
class Saves:
    """The checkpoint cadence: a checkpoint every ``every`` steps, at the last step, and
    once ``minutes`` (0: off) have passed since the last one; ``saved_step`` and
    ``saved_at`` are the step and time of the last (the loop's start before any)."""

    checkpointer: Checkpointer
    every: int
    minutes: float
    saved_step: int = -1
    saved_at: float = dataclasses.field(default_factory=time.perf_counter)

    def due(self, step: int, last_step: int, agree_on: torch.device | None = None) -> bool:
        """Whether the checkpoint cadence asks for one after ``step``. With ``agree_on`` (the
        device of a run whose every rank saves: FSDP2) the time-based part is the main
        rank's clock, told to all ranks so that they save together."""
        minutes = self.minutes
        overdue = minutes > 0 and time.perf_counter() - self.saved_at >= 60 * minutes
        if minutes > 0 and agree_on is not None:
            flag = torch.tensor(int(overdue), device=agree_on)
            dist.broadcast(flag, 0)
            overdue = bool(flag)
        return step % self.every == 0 or step == last_step or overdue

    def save(self, step: int, model: nn.Module, states: dict) -> Path | None:
        """The checkpoint of ``step`` (``Checkpointer.save``), its step and time kept."""
        path = self.checkpointer.save(step, model, states)
        self.saved_step, self.saved_at = step, time.perf_counter()
        return path


@dataclasses.dataclass
class Faults:
    """What the run passed over: bad files (``skips``; too many stop the run), steps whose
    loss was not finite (in all, and in a row: ``run.max_nonfinite`` stops the run), and
    motion-guided masks that fell back to tube masks (this rank)."""

    skips: SkipCounter
    nonfinite_total: int = 0
    consecutive_nonfinite: int = 0
    without_motion: int = 0


@dataclasses.dataclass
class History:
    """The run's record for its checkpoints and summary: its earlier sessions (``previous``,
    as of the checkpoint it resumed from) and the losses this session logged."""

    previous: dict = dataclasses.field(default_factory=dict)
    losses: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Loop:
    """Everything a training run steps with; ``train_step`` advances ``progress.step`` in
    place."""

    model: nn.Module  # the plain model (checkpoints, hooks)
    net: nn.Module  # what is called: maybe compiled and/or DDP-wrapped
    optimizer: torch.optim.Optimizer
    precision: Precision
    device: torch.device
    info: DistInfo
    optim: OptimConfig
    run_config: BaseRunConfig
    plan: Plan
    run_dir: Path
    progress: Progress
    saves: Saves
    faults: Faults
    history: History = dataclasses.field(default_factory=History)
    window: MetricsWindow = dataclasses.field(default_factory=MetricsWindow)
    logger: RunLogger | None = None
    monitor: Monitor | None = None  # e.g. pretraining's collapse monitor

    def loader(self, dataset: Dataset, workers: int) -> DataLoader:
        """One loader for the rest of the run (workers persist across epochs), resuming
        the sample order at ``step``. It has its own generator, so making its iterator
        does not draw from the global RNG (which drop path uses and a checkpoint restores)."""
        o = self.optim
        sampler = RunSampler(
            len(dataset),
            o.batch_size,
            self.run_config.seed,
            self.plan.micro_batches_per_epoch,
            o.epochs,
            self.info.rank,
            self.info.world_size,
            start=self.progress.step * o.accum_steps,
        )
        return DataLoader(
            dataset,
            batch_size=o.batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            timeout=600 if workers else 0,
            worker_init_fn=detach_worker,
            generator=torch.Generator().manual_seed(0),
        )

    def run(
        self,
        loader: Iterable[dict],
        forward: Forward,
        after_step: Callable[[int], None] | None = None,
    ) -> None:
        """Step through ``loader`` until ``progress.last_step``; ``after_step(step)`` runs
        after each optimizer step (after logging and saving), e.g. for an end-of-epoch
        evaluation.

        A stop signal (``engine.stop``) ends the run after the current step with a
        checkpoint; ``progress.stopped_by`` then names the signal."""
        progress = self.progress
        if progress.step >= progress.last_step:
            return
        batches = iter(loader)
        self.window.reset()
        try:
            self._steps(batches, forward, after_step)
        except RuntimeError as err:
            if not is_worker_death(err):
                raise
            raise TrainingError(self.worker_death_line(err)) from None
        finally:
            shut_down(batches)  # the workers end now, on every path out

    def _steps(
        self,
        batches: Iterator[dict],
        forward: Forward,
        after_step: Callable[[int], None] | None,
    ) -> None:
        progress = self.progress
        with StopRequest() as stop:
            while progress.step < progress.last_step:
                micro_batches = itertools.islice(batches, self.optim.accum_steps)
                stopping = self.train_step(micro_batches, forward, stop)
                if stopping is None:  # the loader ran out
                    break
                if after_step is not None:
                    paused = time.perf_counter()
                    after_step(progress.step)
                    self.window.started += time.perf_counter() - paused  # not throughput
                if stopping and progress.step < progress.last_step:
                    progress.stopped_by = stop.signal_name or "a signal on another rank"
                    if self.writes_checkpoints and self.saves.saved_step != progress.step:
                        self.save()
                    break

    def train_step(
        self, micro_batches: Iterator[dict], forward: Forward, stop: StopRequest | None = None
    ) -> bool | None:
        """One optimizer step over ``optim.accum_steps`` micro-batches (fetched lazily, the
        wait counted as data time); returns whether some rank was asked to stop, or None
        (and no step) when the micro-batches ran out first."""
        accum, window, faults = self.optim.accum_steps, self.window, self.faults
        lr = set_schedule(self.optimizer, self.plan, self.optim, self.progress.step)
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        seen = 0
        wait_start = time.perf_counter()
        for batch in micro_batches:
            window.wait += time.perf_counter() - wait_start
            faults.skips.update(batch["skipped"])
            window.skipped += len(batch["skipped"])
            faults.without_motion += int(batch.get("without_motion", 0))
            seen += 1
            last = seen == accum
            synced = self.model if is_sharded(self.model) else self.net  # not a compiled wrapper
            with gradient_sync(synced, last), self.precision.autocast(self.device):
                loss, metrics = forward(batch, self.progress.step)
                finite &= torch.isfinite(loss)
                self.precision.scaler.scale(loss / accum).backward()
            window.add(metrics, len(batch["video"]))
            wait_start = time.perf_counter()
        if seen < accum:
            return None
        stop_wanted = stop is not None and stop.signal_name is not None
        all_finite, stopping = self._agree(finite, stop_wanted)
        if all_finite:
            faults.consecutive_nonfinite = 0
            self._optimizer_step()
        else:
            self._skip_step()
        self.progress.step += 1
        self._book(lr)
        return stopping

    def _agree(self, finite: torch.Tensor, stop_wanted: bool) -> tuple[bool, bool]:
        """``(every rank's loss was finite, some rank was asked to stop)``: one collective
        and one host sync per optimizer step, so all ranks skip and stop together."""
        if not self.info.enabled:
            return bool(finite), stop_wanted
        keep = torch.tensor(int(not stop_wanted), dtype=torch.int32, device=self.device)
        flags = torch.stack([finite.to(torch.int32), keep])
        dist.all_reduce(flags, op=dist.ReduceOp.MIN)
        all_finite, all_keep = flags.tolist()
        return bool(all_finite), not all_keep

    def _optimizer_step(self) -> None:
        step, scaler = self.progress.step, self.precision.scaler
        plain = unwrap(self.model)
        if hasattr(plain, "after_backward"):
            plain.after_backward(step)
        scaler.unscale_(self.optimizer)
        log_every = self.run_config.log_every
        logs_next = (step + 1) % log_every == 0 or step + 1 == self.progress.last_step
        if self.optim.clip_grad or logs_next:  # the norm is a pass over all gradients
            self.window.grad_norm = _clip(self.model, self.optim.clip_grad)
        scaler.step(self.optimizer)
        scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def _skip_step(self) -> None:
        faults = self.faults
        self.optimizer.zero_grad(set_to_none=True)
        faults.nonfinite_total += 1
        faults.consecutive_nonfinite += 1
        self.window.nonfinite += 1
        if faults.consecutive_nonfinite >= self.run_config.max_nonfinite:
            raise TrainingError(
                f"the loss was not finite for {faults.consecutive_nonfinite} steps in a row "
                f"(step {self.progress.step}); lower optim.base_lr or use run.precision=bf16/fp32"
            )

    def _book(self, lr: float) -> None:
        step, last_step = self.progress.step, self.progress.last_step
        if self.logger is not None:
            self.logger.advance()
        if step % self.run_config.log_every == 0 or step == last_step:
            scalars = self.window.flush(lr, self.info)
            warning = self.monitor.update(step, scalars) if self.monitor is not None else None
            if warning is not None:
                scalars["collapse_warning"] = 1.0
            if self.logger is not None:
                if warning is not None:
                    self.logger.write(warning)
                self.logger.log(step, scalars)
                self.history.losses.append(scalars["loss"])
        agree_on = self.device if self.info.enabled and is_sharded(self.model) else None
        if self.writes_checkpoints and self.saves.due(step, last_step, agree_on):
            self.save()

    @property
    def writes_checkpoints(self) -> bool:
        """Whether this rank takes part in saving: the main rank, or every rank of a
        sharded model (each writes its shards)."""
        return self.info.is_main or is_sharded(self.model)

    def save(self) -> Path | None:
        warning = self.monitor.warning if self.monitor is not None else None
        previous = self.history.previous
        history = run_history(
            [*previous.get("sessions", []), self.progress.session()],
            self.history.losses,
            previous,
            collapse_warning=warning or previous.get("collapse_warning"),
        )
        states = {
            "optimizer": self.optimizer,
            "scaler": self.precision.scaler,
            "nonfinite_total": self.faults.nonfinite_total,
            "history": history,
        }
        return self.saves.save(self.progress.step, self.model, states)

    def finished_summary(self, log: Callable[[str], None] = print) -> dict | None:
        """For a run resumed after its last step: its saved summary (``steps_this_session``
        0; the file stays as it is), after one line saying so; else None (there is work)."""
        path, progress = self.run_dir / "summary.json", self.progress
        if progress.start_step < progress.last_step or not path.exists():
            return None
        saved = json.loads(path.read_text())
        if saved.get("steps") != progress.step:  # the last session ended before its summary
            return None
        self.close()
        if self.info.is_main:
            log(f"{self.run_dir} already finished at step {progress.step}; nothing to do")
        return {**saved, "steps_this_session": 0}

    def close(self) -> None:
        if self.logger is not None:
            self.logger.close()

    def finish(self, **extra: object) -> dict:
        """The end-of-run summary (``extra`` entries added), written to ``summary.json``
        on the main rank; checks that all ranks hold the same weights."""
        saved = list_checkpoints(self.run_dir) if self.info.is_main else []
        summary = run_summary(
            run_dir=str(self.run_dir),
            session=self.progress.session(),
            previous=self.history.previous,
            global_batch=self.plan.global_batch,
            world_size=self.info.world_size,
            losses=self.history.losses,
            collapse_warning=self.monitor.warning if self.monitor is not None else None,
            **extra,
            nonfinite_steps_skipped=self.faults.nonfinite_total,
            bad_files_skipped=len(self.faults.skips.bad),
            samples_without_motion=all_sum(self.faults.without_motion, self.info, self.device),
            ranks_in_sync=ranks_in_sync(self.model, self.info),
            checkpoint=str(saved[-1]) if saved else None,
        )
        if self.info.is_main:
            write_json(self.run_dir / "summary.json", summary)
        return summary

    def worker_death_line(self, err: RuntimeError) -> str:
        """One line for a loader worker that died (the OOM killer's usual victim)."""
        saved = list_checkpoints(self.run_dir)
        where = f"{saved[-1].name} is intact" if saved else "no checkpoint was written yet"
        detail = str(err).strip().splitlines()[0].rstrip(". ")
        return (
            f"a data loader worker died at step {self.progress.step} ({detail}); the usual "
            f"cause is memory: lower data.workers or data.num_sample; {where}, continue with "
            "--resume auto"
        )

    def stopped_line(self) -> str:
        """What a run stopped by a signal tells its user (one line)."""
        saved = list_checkpoints(self.run_dir)
        where = f"checkpoint {saved[-1]}" if saved else "no checkpoint"
        return (
            f"stopped by {self.progress.stopped_by} after step {self.progress.step}: {where}; "
            "continue with --resume auto"
        )


def is_worker_death(err: RuntimeError) -> bool:
    """PyTorch's error for a loader worker that was killed or exited unexpectedly."""
    return str(err).startswith("DataLoader worker") and (
        "killed by signal" in str(err) or "exited unexpectedly" in str(err)
    )


def shut_down(batches: Iterator[dict]) -> None:
    """End the loader behind ``batches`` now: a DataLoader iterator's workers (told to
    stop, then ended by SIGTERM), or a generator wrapping one (closed)."""
    if hasattr(batches, "_shutdown_workers"):
        batches._shutdown_workers()
    elif hasattr(batches, "close"):
        batches.close()


def _clip(model: nn.Module, max_norm: float | None) -> torch.Tensor:
    """The total gradient norm before clipping; the gradients are scaled down in place to
    a total norm of ``max_norm`` when it is set and exceeded."""
    params = [p for p in model.parameters() if p.grad is not None]
    if is_sharded(model):  # DTensor gradients: the norm over all ranks' shards
        norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if max_norm:
            torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
        return full(norm)
    if max_norm:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
