"""``train(recipe, config)``: the skeleton every training run follows, for any recipe.

Start the device and the process group → find the checkpoint to resume from → check the
resolved config against the run's own → the recipe builds its model and training data →
plan the steps and the optimizer → write the run's files (only now: everything is checked)
→ open the loop (restoring the checkpoint) → step with the recipe's forward → the recipe's
results → the summary. What a recipe is: ``Recipe``; pretraining's is
``sigma_video.pretraining.trainer.PretrainRecipe``, fine-tuning's
``sigma_video.finetuning.trainer.FinetuneRecipe``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import Dataset

from sigma_video.data.shards import samples_in
from sigma_video.data.skips import SkipCounter
from sigma_video.engine.context import Context
from sigma_video.engine.device import start_device
from sigma_video.engine.loop import Forward, Loop, open_loop, resolve_precision
from sigma_video.engine.plan import make_plan
from sigma_video.engine.resume import checked_resume, resume_point
from sigma_video.engine.run_dir import write_run_files


@dataclass
class Built:
    """What a recipe builds for a run: its (resolved) ``config``, the ``model`` on the
    device, the training ``dataset``, ``optimizer(lr)`` for the planned base lr, the
    ``views`` of each sample that count in the global batch, extra run ``files``
    (name -> JSON value, or text), and the ``metadata`` each checkpoint's weights carry
    (what they are, for loading them with nothing beside them: ``io.load``)."""

    config: Any
    model: nn.Module
    dataset: Dataset
    optimizer: Callable[[float], torch.optim.Optimizer]
    views: int = 1
    files: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Steps:
    """How the loop steps: the batches, the forward (loss, metrics) of one micro-batch, and
    what runs after each optimizer step (e.g. an evaluation every few epochs)."""

    batches: Iterable[dict]
    forward: Forward
    after_step: Callable[[int], None] | None = None


class Recipe(Protocol):
    """A kind of training run, as the engine sees it."""

    def resolve(self, config: Any, start: Path | None) -> Any:
        """``config`` with the values it leaves to be derived filled in (for a resume, as
        the run derived them), so that it compares equal to the run's own."""

    def build(self, config: Any, context: Context) -> Built: ...

    def steps(self, loop: Loop) -> Steps:
        """The batches and forward of the opened loop (its plan and step are known)."""

    def results(self, loop: Loop) -> dict[str, Any]:
        """Entries the summary adds once the loop has ended (stopped early or not)."""

    def done_line(self, summary: dict[str, Any], loop: Loop) -> str:
        """The log's last line for a run that reached its last step."""


def train(
    recipe: Recipe,
    config: Any,
    resume: str | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    allow_changes: bool = False,
) -> dict[str, Any]:
    """Run (or continue) a training run of ``recipe``; returns the end-of-run summary (of a
    run already finished: its saved summary, with ``steps_this_session`` 0).

    ``resume``: ``"auto"`` (the newest whole checkpoint of ``run.output``, if any) or a
    checkpoint folder; the resolved ``config`` must then be the run's own, apart from
    session settings (``engine.resume.resume_config``), unless ``allow_changes``."""
    device, info = start_device(config.run)
    main_log = log if info.is_main else _quiet
    context = Context(device, info, resume_point(Path(config.run.output), resume, main_log), log)
    config = recipe.resolve(config, context.start)
    config = checked_resume(config, context.start, allow_changes, info)
    built = recipe.build(config, context)
    config = built.config
    sharded = getattr(config.run, "parallel", "ddp") == "fsdp"
    # FSDP2 in a single process shards over a process group of its own, left at the end
    group = own_process_group(device) if sharded and not info.enabled else contextlib.nullcontext()
    with group:
        if sharded:  # before the optimizer: the parameters become DTensors
            shard_for_run(built.model, config.run, device)
        return _train_built(recipe, built, context, resume, overwrite, log)


def _train_built(
    recipe: Recipe,
    built: Built,
    context: Context,
    resume: str | None,
    overwrite: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The run from its built model on: plan, optimizer, run files, the loop, the summary."""
    config, info = built.config, context.info
    plan = make_plan(config.optim, len(built.dataset), info.world_size, built.views)
    optimizer = built.optimizer(plan.lr)
    write_run_files(config, info, resume, overwrite, built.files)
    shards = samples_in(getattr(built.dataset, "records", ()))
    skips = SkipCounter(
        len(built.dataset), config.data.max_bad_fraction, samples_of=lambda p: shards.get(p, 1)
    )
    loop = open_loop(
        built.model,
        optimizer,
        plan,
        context,
        optim=config.optim,
        run=config.run,
        skips=skips,
        metadata=built.metadata,
    )
    done = loop.finished_summary(log)
    if done is not None:
        return done
    steps = recipe.steps(loop)
    try:
        loop.run(steps.batches, steps.forward, steps.after_step)
        extras = recipe.results(loop)
    finally:
        loop.close()
    summary = loop.finish(**extras)
    if info.is_main:
        log(loop.stopped_line() if loop.progress.stopped_by else recipe.done_line(summary, loop))
    return summary


@contextlib.contextmanager
def own_process_group(device: torch.device) -> Iterator[None]:
    """A process group of this process alone (FSDP2 needs one), destroyed on leaving; one
    already joined is used as it is."""
    import torch.distributed as dist

    if dist.is_initialized():
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def shard_for_run(model: nn.Module, run: Any, device: torch.device) -> None:
    """FSDP2 over the run's ranks (``engine.parallel.shard``), gathering bf16 weights when
    the run computes in bf16 (a single process: over its own group, so a run saved on N
    ranks resumes on one)."""
    from sigma_video.engine.parallel import shard

    bf16 = resolve_precision(run.precision, device) == "bf16"
    shard(model, bf16, run.reshard_after_forward)


def _quiet(line: str) -> None:
    """The log of ranks other than the main one."""
