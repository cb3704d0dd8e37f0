"""``run_suite``: fine-tune one checkpoint on every task of a SEVERE suite, resumably.

Order of work: every task's lists are read and checked first (labels in range, counts
>= 1, multi-label rows with labels, subsets no larger than their list), so a bad list
stops the suite with one line per problem before anything trains; a task whose files are
missing is skipped with one line. Then each task fine-tunes into ``output/<task>``: a
finished task (its ``summary.json`` holds a test result) is read back, not rerun; a
stopped one continues from its last checkpoint. ``output/severe.json`` and ``severe.md``
are rewritten after every task.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigma_video.finetuning.config import FinetuneConfig, load_finetune_config
from sigma_video.finetuning.tasks import make_task
from sigma_video.severe.report import write_report
from sigma_video.severe.suite import SevereTask, Suite


def task_config(
    task: SevereTask,
    checkpoint: str,
    data_root: str | None,
    output: Path,
    overrides: list[str],
) -> FinetuneConfig:
    """The fine-tuning config of one task: its preset, the suite's settings for it, its
    own overrides, then the command line's."""
    paths = task.paths(data_root)
    flags = {
        "model.checkpoint": checkpoint,
        "model.task": task.task,
        "run.output": str(output / task.slug),
        "data.train": paths["train"],
        "data.val": paths["val"],
        "data.test": paths["test"],
        "data.data_root": paths["videos"] if task.train is not None else None,
        "data.subset": None if task.subset is None else str(task.subset),
    }
    settings = [f"{key}={value}" for key, value in flags.items() if value is not None]
    return load_finetune_config(task.preset, [*settings, *task.overrides, *overrides])


def missing_files(task: SevereTask, data_root: str | None) -> list[str]:
    """The task's lists that do not exist (empty for an embedded task)."""
    paths = task.paths(data_root)
    wanted = [paths[name] for name in ("train", "val", "test") if paths[name] is not None]
    return [p for p in wanted if not Path(p).exists()]


def check_task(config: FinetuneConfig, log: Callable[[str], None]) -> None:
    """Read and check a task's lists as fine-tuning will (raises ValueError)."""
    from sigma_video.finetuning.trainer import load_splits

    task = make_task(config.model.task, config.data.view_pool)
    splits = load_splits(config, task, log)
    task.num_outputs(vars(splits), config.model.num_classes)


def finished(run_dir: Path, checkpoint: str) -> dict[str, Any] | None:
    """The test result of a finished task run from ``checkpoint``, else None. A run in
    ``run_dir`` made from another checkpoint is refused."""
    config_file = run_dir / "config.json"
    if not config_file.exists():
        return None
    saved = json.loads(config_file.read_text()).get("model", {}).get("checkpoint")
    if saved != checkpoint:
        raise ValueError(
            f"{run_dir} holds a run from checkpoint {saved}, not {checkpoint}: "
            "use another --output (or --overwrite)"
        )
    summary_file = run_dir / "summary.json"
    if not summary_file.exists():
        return None
    return json.loads(summary_file.read_text()).get("test")


def run_suite(
    suite: Suite,
    checkpoint: str,
    output: str | Path,
    data_root: str | None = None,
    overrides: list[str] | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fine-tune ``checkpoint`` on each task of ``suite``; returns the ``severe.json`` content."""
    from sigma_video.finetuning.trainer import finetune

    output, overrides = Path(output), overrides or []
    rows: list[dict[str, Any]] = []
    planned: list[tuple[SevereTask, FinetuneConfig]] = []
    problems = []
    for task in suite.tasks:
        missing = missing_files(task, data_root)
        if missing:
            log(f"skip {task.name}: {missing[0]} not found")
            rows.append(
                {**describe(task), "status": "skipped", "reason": f"{missing[0]} not found"}
            )
            continue
        config = task_config(task, checkpoint, data_root, output, overrides)
        try:
            check_task(config, log)
        except ValueError as err:
            problems.append(f"{task.name}: {err}")
            continue
        planned.append((task, config))
        rows.append({**describe(task), "status": "pending"})
    for problem in problems:
        log(f"error: {problem}")
    if problems:
        raise ValueError(f"{len(problems)} task(s) have bad lists (above): nothing was trained")
    result = {"suite": suite.name, "checkpoint": checkpoint, "tasks": rows}
    for task, config in planned:
        row = next(r for r in rows if r["name"] == task.name)
        run_dir = Path(config.run.output)
        tested = None if overwrite else finished(run_dir, checkpoint)
        if tested is None:
            log(f"{task.name}: fine-tuning into {run_dir}")
            summary = finetune(config, resume=None if overwrite else "auto", overwrite=overwrite)
            tested = summary["test"]
            if tested is None:  # stopped by a signal: the next call continues it
                row.update(status="stopped", run_dir=str(run_dir))
                write_report(output, result)
                return result
        else:
            log(f"{task.name}: already done in {run_dir}")
        row.update(status="done", run_dir=str(run_dir), scores=tested)
        write_report(output, result)
    write_report(output, result)
    return result


def describe(task: SevereTask) -> dict[str, Any]:
    return {"name": task.name, "group": task.group, "task": task.task}
