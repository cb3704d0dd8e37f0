"""``sigma-video pretrain`` and ``sigma-video finetune``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def with_flags(overrides: list[str], flags: dict[str, str | None]) -> list[str]:
    """``key=value`` overrides with the command-line flags that were given appended."""
    return [*overrides, *(f"{key}={value}" for key, value in flags.items() if value is not None)]


def pretrain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain an encoder (no arguments: the demo recipe on the embedded dataset)",
        description="Pretrain with SIGMA or a baseline. Settings: defaults, then --config, "
        "then key=value overrides with dotted keys (e.g. optim.base_lr=3e-4 run.device=cpu).",
    )
    p.add_argument(
        "--config",
        default=None,
        help="preset name or .toml/.json file (default: demo; with --resume: the run's own "
        "config.json)",
    )
    p.add_argument("--data", default=None, help="annotation list or folder of videos")
    p.add_argument("--data-root", default=None, help="prefix for relative paths in --data")
    p.add_argument("--output", default=None, help="run directory (default: the preset's)")
    p.add_argument(
        "--resume",
        default=None,
        help="'auto' (latest checkpoint of --output) or a checkpoint folder",
    )
    p.add_argument(
        "--init",
        default=None,
        help="start from these weights: an official pretraining .pth, a checkpoint folder or "
        "a run (weights only; the optimizer and schedule start fresh)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    p.add_argument(
        "--allow-changes",
        action="store_true",
        help="resume with settings that differ from the run's saved config (recorded)",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    p.set_defaults(func=run_pretrain)


def command_config(args: argparse.Namespace, overrides: list[str], load: Callable[..., Any]) -> Any:
    """The config a command runs with: ``load(--config or "demo", overrides)``; at a resume
    without ``--config``, the run's own ``config.json`` with the overrides."""
    from pathlib import Path

    config = load(args.config or "demo", overrides)
    saved = Path(config.run.output) / "config.json"
    if args.config is None and args.resume is not None and saved.exists():
        return load(str(saved), overrides)
    return config


def run_pretrain(args: argparse.Namespace) -> None:
    from pathlib import Path

    from sigma_video.pretraining.config import load_pretrain_config
    from sigma_video.pretraining.trainer import pretrain

    flags = {
        "data.train": args.data,
        "data.data_root": args.data_root,
        "run.output": args.output,
        "run.init": args.init,
    }
    overrides = with_flags(args.overrides, flags)
    config = command_config(args, overrides, load_pretrain_config)
    summary = pretrain(
        config, resume=args.resume, overwrite=args.overwrite, allow_changes=args.allow_changes
    )
    probes = config.run.probe_after and config.data.embedded and not summary["stopped_by"]
    # a finished run that is resumed keeps its report (written unless a kill came first)
    reported = (
        summary["steps_this_session"] == 0 and (Path(summary["run_dir"]) / "report.json").exists()
    )
    if probes and not reported:
        from sigma_video.evaluation.report import probe_report

        probe_report(summary["run_dir"])


def finetune_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune an encoder end to end (VideoMAE recipe); last line is JSON (scores in %%)",
        description="Full fine-tuning: layer-wise lr decay, drop path, mixup/cutmix, label "
        "smoothing, warm-up + cosine; multi-clip × multi-crop test at the end. Settings: "
        "defaults, then --config, then key=value overrides (e.g. optim.epochs=50).",
    )
    p.add_argument(
        "--config",
        default=None,
        help="fine-tuning preset or .toml/.json (default: demo; with --resume: the run's own "
        "config.json)",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help="what to fine-tune: run dir, checkpoint, file, or "
        "random:PRESET (default: the preset's)",
    )
    p.add_argument("--train", default=None, help="labelled training list")
    p.add_argument("--val", default=None, help="labelled validation list")
    p.add_argument("--test", default=None, help="test list (default: --val)")
    p.add_argument("--data-root", default=None, help="prefix for relative paths in the lists")
    p.add_argument("--output", default=None, help="run directory (default: the preset's)")
    p.add_argument("--resume", default=None, help="'auto' or a checkpoint folder")
    p.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    p.add_argument(
        "--allow-changes",
        action="store_true",
        help="resume with settings that differ from the run's saved config (recorded)",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    p.set_defaults(func=run_finetune)


def test_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "test",
        help="multi-clip × multi-crop test of a fine-tuned model; last line is JSON (scores in %%)",
        description="Score a fine-tuning run (or one of its checkpoints) or a reference "
        "SIGMA/VideoMAE fine-tuned .pth on a labelled list: softmax averaged over "
        "clips × crops per video (SSv2 2×3, K400 5×3); a multi-label run is scored by mAP "
        "(views max- or mean-pooled), a counting run by MAE and off-by-one accuracy.",
    )
    p.add_argument("--checkpoint", required=True, help="fine-tuning run dir, checkpoint, .pth")
    p.add_argument("--data", required=True, help="labelled list or class folders")
    p.add_argument("--data-root", default=None)
    p.add_argument("--clips", type=int, default=2)
    p.add_argument("--crops", type=int, default=3)
    p.add_argument("--sampling", default="stride", choices=["stride", "segments"])
    p.add_argument(
        "--view-pool", default="max", choices=["max", "mean"], help="multi-label view pooling"
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run_test)


def run_test(args: argparse.Namespace) -> None:
    import torch

    from sigma_video.data.eval_clips import EvalClips
    from sigma_video.engine.device import resolve_device
    from sigma_video.finetuning.evaluate import evaluate
    from sigma_video.finetuning.tasks import make_task
    from sigma_video.io.load import load_model

    if args.clips < 1 or args.crops < 1 or args.batch_size < 1 or args.workers < 0:
        raise ValueError("--clips, --crops and --batch-size must be >= 1, --workers >= 0")
    device = resolve_device(args.device, "--device")
    model, spec = load_model(args.checkpoint, "classifier")
    task = make_task(model.task, args.view_pool)
    records = task.records(args.data, args.data_root)
    task.num_outputs({"--data": records}, model.num_classes)  # labels within the head
    view = spec.view(sampling=args.sampling)
    data = EvalClips(records, view, args.clips, args.crops, skip_bad=True)
    with torch.no_grad():
        model = model.to(device)
        result = evaluate(model, data, device, args.batch_size, args.workers, task=task)
    scores = {k: v for k, v in result.items() if k not in ("num", "unreadable")}
    tested = {"num_videos": result["num"], "unreadable": result["unreadable"]}
    views = f"{args.clips}x{args.crops}"
    print(json.dumps({"checkpoint": args.checkpoint, **scores, **tested, "views": views}))


def run_finetune(args: argparse.Namespace) -> None:
    from sigma_video.finetuning.config import load_finetune_config
    from sigma_video.finetuning.trainer import finetune

    flags = {
        "model.checkpoint": args.checkpoint,
        "data.train": args.train,
        "data.val": args.val,
        "data.test": args.test,
        "data.data_root": args.data_root,
        "run.output": args.output,
    }
    overrides = with_flags(args.overrides, flags)
    config = command_config(args, overrides, load_finetune_config)
    summary = finetune(
        config, resume=args.resume, overwrite=args.overwrite, allow_changes=args.allow_changes
    )
    test = summary["test"]
    if test is None:  # stopped by a signal before the test
        print(json.dumps({"stopped_by": summary["stopped_by"], "run_dir": summary["run_dir"]}))
        return
    scores = {k: v for k, v in test.items() if k not in ("num", "unreadable", "clips", "crops")}
    result = {
        "checkpoint": config.model.checkpoint,
        "task": config.model.task,
        **scores,
        "num_videos": test["num"],
        "unreadable": test["unreadable"],
        "views": f"{test['clips']}x{test['crops']}",
        "run_dir": summary["run_dir"],
    }
    print(json.dumps(result))


def config_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="print the resolved config (preset + overrides) as a documented TOML preset",
        description="Defaults, then --config, then key=value overrides, resolved and printed "
        "with each section's documentation; the output is itself a valid preset file.",
    )
    p.add_argument(
        "--config", default="demo", help="preset name or .toml/.json file (default: demo)"
    )
    p.add_argument("--finetune", action="store_true", help="a fine-tuning config")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    p.set_defaults(func=run_show_config)


def toml_value(value: object) -> str:
    """One TOML value (strings, booleans, numbers, lists of them, inline tables)."""
    import dataclasses

    if dataclasses.is_dataclass(value):
        fields = dataclasses.asdict(value)  # type: ignore[arg-type]
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in fields.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def run_show_config(args: argparse.Namespace) -> None:
    import dataclasses

    if args.finetune:
        from sigma_video.finetuning.config import load_finetune_config

        config = load_finetune_config(args.config, args.overrides)
    else:
        from sigma_video.pretraining.config import load_pretrain_config

        config = load_pretrain_config(args.config, args.overrides)
    for section in dataclasses.fields(config):
        print_section(section.name, getattr(config, section.name))


def print_section(name: str, part: Any) -> None:
    """``part`` as a TOML table ``[name]``: the section's docstring, then each field's
    docstring as a comment above its value, then its own sections as ``[name.field]``."""
    import dataclasses
    import inspect
    import textwrap

    from sigma_video.config import field_docs

    print(f"[{name}]")
    for line in (inspect.getdoc(type(part)) or "").splitlines():
        print(f"# {line}".rstrip())
    docs = field_docs(type(part))
    sections = []
    for field in dataclasses.fields(part):
        value = getattr(part, field.name)
        if dataclasses.is_dataclass(value):
            sections.append((f"{name}.{field.name}", value))
            continue
        for line in textwrap.wrap(docs.get(field.name, ""), 96, break_on_hyphens=False):
            print(f"# {line}")
        text = "is unset" if value is None else f"= {toml_value(value)}"
        print(f"# {field.name} {text}" if value is None else f"{field.name} {text}")
    print()
    for child, value in sections:
        print_section(child, value)
