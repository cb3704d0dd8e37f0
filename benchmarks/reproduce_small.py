"""The small-scale reproduction: SIGMA-MLP vs VideoMAE-pixel vs feature-L2 vs random init,
over several seeds, with a supervised ceiling and fine-tuning rows.

    python benchmarks/reproduce_small.py [--seeds 3] [--jobs 2] [--epochs 40] [--preset demo]
        [--output runs/reproduce_small] [--supervised] [--finetune] [--masks]
        [--decoder-masking] [--only 'ROW;ROW']

On the embedded generated dataset, each objective pretrains the demo model with the demo
recipe (or another ``--preset``) and the same budget, once per seed (``run.seed``: its own
initialisation and data order); then every encoder, and each seed's random initialisation,
is evaluated frozen: linear probe and kNN on the motion and the appearance labels, and
unsupervised video object segmentation (mIoU, clustering and over-clustering) on the
DAVIS-layout val videos. ``--supervised`` adds the supervised ceiling (the same architecture
trained from scratch on each label set, its val top-1 in the probe columns); ``--masks``
adds SIGMA-MLP with motion-guided masks (``mask.kind=mgm`` and ``mgmae``),
``--decoder-masking`` SIGMA-MLP with decoder masking (``mask.decoder_ratio=0.5``); ``--finetune``
fine-tunes each seed's SIGMA checkpoint and random initialisation on the motion labels.
Writes ``results.json`` (every run), ``results.md`` (mean ± std over seeds) and
``results.png`` (error bars; needs matplotlib: ``pip install 'sigma-video[plots]'``). The
numbers for our machine are in BENCHMARKS.md, whatever they turn out to be. ``--jobs 2``
runs two pretrainings (or evaluations) at once, each in its own process on half the cores:
on 2 cores 1.2x the throughput of one process on both (a small model's matrix products do
not keep two threads busy); the float sums of a run then differ in rounding from a
one-process run of the same seed, so its numbers are another draw of the same distribution,
not the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import torch

from sigma_video.data.clip import ClipSpec
from sigma_video.evaluation.report import embedded_metrics
from sigma_video.io.load import encoder_for, load_model
from sigma_video.pretraining.config import load_pretrain_config
from sigma_video.pretraining.trainer import pretrain
from sigma_video.synth.dataset import default_dataset
from sigma_video.synth.pool import usable_cores

VARIANTS = {
    "SIGMA-MLP": [],
    "VideoMAE-pixel": ["model.target.kind=pixels", "model.objective.kind=l2"],
    "feature-L2": ["model.objective.kind=l2"],
}
# the same objective and budget, other masks (``--masks``)
MASK_VARIANTS = {
    "SIGMA-MLP, MGM masks": ["mask.kind=mgm"],  # codec motion vectors
    "SIGMA-MLP, MGMAE masks": ["mask.kind=mgmae"],  # optical flow (DIS, in the loader)
}
# the same objective and budget, the decoder predicting half of the masked tubes
# (``--decoder-masking``: VideoMAE V2's dual masking, its running cell at 0.5)
DECODER_VARIANTS = {"SIGMA-MLP, decoder masking 0.5": ["mask.decoder_ratio=0.5"]}
# the supervised ceiling: the demo fine-tuning recipe (no mixup, cutmix, label smoothing,
# RandAugment, erasing or drop path, head at full scale, lr 1e-3) from random init for 900
# steps instead of 240, with augmentation that keeps each label: multi-scale crops for the
# motion labels, whole frames for the appearance labels — those classes are textures fixed
# in pixels, and a crop of 0.66 of the side stretches their period by up to 1.5x, into
# another class's (BENCHMARKS.md, "The supervised ceiling and its crops": 66.7 -> 92.7 %)
SUPERVISED = {
    "motion": ["optim.epochs=15"],
    "appearance": ["optim.epochs=15", "data.crop=center"],
}


def summarise(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, tuple]]:
    """Mean and sample std (0 for one run) per metric over a row's runs, in percent:
    ``{row: {metric: (mean, std, n)}}``; metrics a row does not have are left out."""
    out = {}
    for name, rows in runs.items():
        metrics = {m for row in rows for m in row}
        out[name] = {}
        for metric in sorted(metrics):
            values = [100 * row[metric] for row in rows if metric in row]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            out[name][metric] = (statistics.fmean(values), std, len(values))
    return out


def table(summary: dict[str, dict[str, tuple]], metrics: list[str]) -> list[str]:
    """Markdown rows ``mean ± std`` (``–`` where a row has no such metric)."""
    lines = ["| encoder | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for name, row in summary.items():
        cells = [f"{row[m][0]:.1f} ± {row[m][1]:.1f}" if m in row else "–" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def plot(summary: dict[str, dict[str, tuple]], metrics: list[str], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'sigma-video[plots]')")
        return
    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / len(summary)
    for i, (name, row) in enumerate(summary.items()):
        xs = [m + i * width for m, metric in enumerate(metrics) if metric in row]
        means = [row[metric][0] for metric in metrics if metric in row]
        stds = [row[metric][1] for metric in metrics if metric in row]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=name)
    ax.set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics, rotation=20)
    ax.set_ylabel("% (mean ± std over seeds)")
    ax.set_title("Frozen demo encoders after equal pretraining on the embedded dataset")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def finetuned(checkpoint: str, output: Path, seed: int, task: str, extra: list[str]) -> float:
    """Val top-1 (fraction) of the fine-tuning demo recipe on one label set."""
    from sigma_video.finetuning.config import load_finetune_config
    from sigma_video.finetuning.trainer import finetune

    root = default_dataset()
    suffix = "" if task == "motion" else "_appearance"
    config = load_finetune_config(
        "demo",
        [
            f"model.checkpoint={checkpoint}",
            f"data.train={root / f'train{suffix}.csv'}",
            f"data.val={root / f'val{suffix}.csv'}",
            f"run.output={output}",
            f"run.seed={seed}",
            "run.progress=false",
            "run.eval_every=1000",
            *extra,
        ],
    )
    return finetune(config, overwrite=True, log=lambda _: None)["test"]["top1"] / 100


@dataclass(frozen=True)
class Task:
    """One unit of the reproduction: pretrain one row's objective for one seed and evaluate
    it (``pretrain``), evaluate the seed's random initialisation (``random``), train the
    supervised ceiling on one label set (``supervised``, ``label``), or fine-tune a seed's
    SIGMA checkpoint or random initialisation on the motion labels (``finetune``)."""

    kind: str
    row: str
    seed: int
    overrides: tuple[str, ...] = ()
    label: str = "motion"


@dataclass(frozen=True)
class Settings:
    """What every task shares (picklable: tasks may run in other processes)."""

    output: Path
    preset: str
    epochs: int | None
    workers: int
    max_sequences: int
    eval_only: bool
    threads: int | None = None  # torch threads in a worker process (``--jobs`` > 1)


def row_config(settings: Settings, task: Task):
    """The pretraining config of a row's run for one seed (the preset, the row's overrides)."""
    epochs = [] if settings.epochs is None else [f"optim.epochs={settings.epochs}"]
    return load_pretrain_config(
        settings.preset,
        [
            f"run.output={settings.output / task.row / f'seed{task.seed}'}",
            f"run.seed={task.seed}",
            f"data.workers={settings.workers}",
            "run.progress=false",
            "run.probe_after=false",
            *epochs,
            *task.overrides,
        ],
    )


def run_task(task: Task, settings: Settings) -> tuple[Task, dict[str, float], float | None]:
    """``(task, its metrics as fractions, pretraining seconds or None)``."""
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    root, out = default_dataset(), settings.output
    if task.kind == "supervised":
        folder = out / "supervised" / f"{task.label}{task.seed}"
        top1 = finetuned("random:demo", folder, task.seed, task.label, SUPERVISED[task.label])
        return task, {f"probe_{task.label}": top1}, None
    if task.kind == "finetune":
        sigma = task.row == "SIGMA-MLP"
        start = str(out / "SIGMA-MLP" / f"seed{task.seed}") if sigma else "random:demo"
        folder = out / "finetune" / f"{task.row}{task.seed}"
        top1 = finetuned(start, folder, task.seed, "motion", [])
        return task, {"finetune_motion": top1}, None
    config = row_config(settings, task)
    seconds = None
    if task.kind == "random":  # this seed's shared starting point
        encoder, clip = encoder_for(config, task.seed).eval(), ClipSpec.of(config.data)
    else:
        if not settings.eval_only:
            start_time = time.perf_counter()
            pretrain(config, overwrite=True, log=lambda _: None)
            seconds = time.perf_counter() - start_time
        encoder, clip = load_model(config.run.output)
    metrics = embedded_metrics(
        encoder, clip, root, settings.max_sequences, workers=settings.workers
    )
    return task, metrics, seconds


def plan_tasks(args, variants: dict[str, list[str]]) -> tuple[list[Task], list[Task]]:
    """The tasks, in table order, and those that need the first ones' checkpoints."""
    first, then = [], []
    for seed in range(args.seeds):
        first += [Task("pretrain", name, seed, tuple(o)) for name, o in variants.items()]
        first.append(Task("random", "random init", seed))
        if args.supervised:
            first += [
                Task("supervised", "supervised ceiling", seed, label=label)
                for label in ("motion", "appearance")
            ]
        if args.finetune:
            then += [Task("finetune", row, seed) for row in ("SIGMA-MLP", "random init")]
    return first, then


def run_all(tasks: list[Task], settings: Settings, jobs: int) -> list[tuple]:
    """Every task's result, in the tasks' order; ``jobs`` > 1 runs them in that many
    processes at once, each with ``settings.threads`` torch threads."""
    results = {}

    def report(result: tuple) -> None:
        task, metrics, _ = result
        results[task] = result
        print(task.row, task.seed, json.dumps(metrics), flush=True)

    if jobs == 1:
        for task in tasks:
            report(run_task(task, settings))
    else:
        context = multiprocessing.get_context("spawn")
        # the trainings first, the short evaluations of random inits last: no core idles
        # through a last long run
        ordered = sorted(tasks, key=lambda task: task.kind == "random")
        with ProcessPoolExecutor(jobs, mp_context=context) as pool:
            for future in as_completed([pool.submit(run_task, t, settings) for t in ordered]):
                report(future.result())
    return [results[task] for task in tasks]


def collect(results: list[tuple]) -> tuple[dict, dict]:
    """``(runs, pretraining seconds)``: each row's metric dicts in seed order (a task that
    adds to a row and seed merges into its dict) and each row's timings."""
    merged: dict[tuple[str, int], dict[str, float]] = {}
    timings: dict[str, list[float]] = {}
    for task, metrics, seconds in results:
        merged.setdefault((task.row, task.seed), {}).update(metrics)
        if seconds is not None:
            timings.setdefault(task.row, []).append(seconds)
    runs: dict[str, list[dict[str, float]]] = {}
    for (row, _), metrics in merged.items():
        runs.setdefault(row, []).append(metrics)
    return runs, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--output", default="runs/reproduce_small")
    parser.add_argument(
        "--preset",
        default="demo",
        help="pretraining preset (or .toml file) of every row, e.g. benchmarks/small_16x112.toml",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at once, each in its own process with cores/jobs torch threads and frames "
        "decoded in the training process (2 on 2 cores: 1.2x the throughput; a run's float "
        "sums then differ in rounding from a one-process run of the same seed)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="loader processes per run (2; 0 with --jobs)"
    )
    parser.add_argument("--max-sequences", type=int, default=32)
    parser.add_argument("--supervised", action="store_true", help="add the supervised ceiling")
    parser.add_argument("--finetune", action="store_true", help="add fine-tuning rows")
    parser.add_argument(
        "--masks",
        action="store_true",
        help="add SIGMA-MLP with motion-guided masks: codec motion vectors (mgm) and optical "
        "flow (mgmae)",
    )
    parser.add_argument(
        "--decoder-masking",
        action="store_true",
        help="add SIGMA-MLP whose decoder predicts half of the masked tubes (mask.decoder_ratio)",
    )
    parser.add_argument(
        "--eval-only", action="store_true", help="re-evaluate the runs already in --output"
    )
    parser.add_argument(
        "--only",
        default=None,
        help="semicolon-separated rows to pretrain (default: all), e.g. 'SIGMA-MLP, MGMAE masks'",
    )
    args = parser.parse_args()
    if args.jobs < 1 or args.seeds < 1:
        parser.error("--jobs and --seeds must be at least 1")
    if args.preset != "demo" and (args.supervised or args.finetune):
        parser.error("--supervised and --finetune use the demo fine-tuning recipe: --preset demo")
    out = Path(args.output)
    default_dataset()  # generated once, before any worker process needs it
    started = time.perf_counter()
    every = {**VARIANTS, **MASK_VARIANTS, **DECODER_VARIANTS}
    variants = {
        **VARIANTS,
        **(MASK_VARIANTS if args.masks else {}),
        **(DECODER_VARIANTS if args.decoder_masking else {}),
    }
    if args.only is not None:
        wanted = [name.strip() for name in args.only.split(";")]
        unknown = [name for name in wanted if name not in every]
        if unknown:
            parser.error(f"--only: unknown rows {unknown}; rows: {list(every)}")
        variants = {name: o for name, o in every.items() if name in wanted}
    settings = Settings(
        output=out,
        preset=args.preset,
        epochs=args.epochs,
        workers=args.workers if args.workers is not None else (2 if args.jobs == 1 else 0),
        max_sequences=args.max_sequences,
        eval_only=args.eval_only,
        threads=None if args.jobs == 1 else max(1, usable_cores() // args.jobs),
    )
    first, then = plan_tasks(args, variants)
    results = run_all(first, settings, args.jobs) + run_all(then, settings, args.jobs)
    runs, timings = collect(results)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(runs)
    metrics = list(dict.fromkeys(m for row in runs["random init"] for m in row))
    lines = table(summary, metrics)
    minutes = (time.perf_counter() - started) / 60
    (out / "results.json").write_text(
        json.dumps(
            {
                "runs": runs,
                "pretrain_seconds": timings,
                "minutes": round(minutes, 1),
                "jobs": args.jobs,
            },
            indent=2,
        )
    )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"{args.seeds} seed(s), {minutes:.1f} min in all ({args.jobs} job(s) at once)")
    plot(summary, metrics, out / "results.png")


if __name__ == "__main__":
    main()
