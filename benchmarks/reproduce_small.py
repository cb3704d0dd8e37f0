"""The small-scale reproduction: SIGMA-MLP vs VideoMAE-pixel vs feature-L2 vs random init,
over several seeds, with a supervised ceiling and fine-tuning rows.

    python benchmarks/reproduce_small.py [--seeds 3] [--epochs 40] [--output runs/reproduce_small]
        [--supervised] [--finetune] [--masks]

On the embedded generated dataset, each objective pretrains the demo model with the demo
recipe and the same budget, once per seed (``run.seed``: its own initialisation and data
order); then every encoder, and each seed's random initialisation, is evaluated frozen:
linear probe and kNN on the motion and the appearance labels, and unsupervised video object
segmentation (mIoU, clustering and over-clustering) on the DAVIS-layout val videos.
``--supervised`` adds the supervised ceiling (the same architecture trained from scratch on
each label set, its val top-1 in the probe columns); ``--masks`` adds SIGMA-MLP with
motion-guided masks (``model.mask=mgm`` and ``mgmae``); ``--finetune`` fine-tunes each seed's
SIGMA checkpoint and random initialisation on the motion labels. Writes ``results.json``
(every run), ``results.md`` (mean ± std over seeds) and ``results.png`` (error bars; needs
matplotlib: ``pip install 'sigma-video[plots]'``). The numbers for our machine are in
BENCHMARKS.md, whatever they turn out to be.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from sigma_video.config import load_config
from sigma_video.data.synth import default_dataset
from sigma_video.engine.trainer import pretrain
from sigma_video.evaluation.report import embedded_metrics
from sigma_video.io.load import encoder_for, load_model

VARIANTS = {
    "SIGMA-MLP": [],
    "VideoMAE-pixel": ["model.target=pixels", "model.objective=l2"],
    "feature-L2": ["model.objective=l2"],
}
# the same objective and budget, other masks (``--masks``)
MASK_VARIANTS = {
    "SIGMA-MLP, MGM masks": ["model.mask=mgm"],  # codec motion vectors
    "SIGMA-MLP, MGMAE masks": ["model.mask=mgmae"],  # optical flow (DIS, in the loader)
}
# the supervised ceiling: the demo fine-tuning recipe (no mixup, cutmix, label smoothing,
# RandAugment, erasing or drop path, head at full scale, lr 1e-3) from random init for 900
# steps instead of 240, with augmentation that keeps each label: multi-scale crops for the
# motion labels, whole frames for the appearance labels — those classes are textures fixed
# in pixels, and a crop of 0.66 of the side stretches their period by up to 1.5x, into
# another class's (BENCHMARKS "Supervised ceiling, part 3": 66.7 -> 92.7 %)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="default: the demo preset's")
    parser.add_argument("--output", default="runs/reproduce_small")
    parser.add_argument("--workers", type=int, default=2)
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
        "--eval-only", action="store_true", help="re-evaluate the runs already in --output"
    )
    parser.add_argument(
        "--only",
        default=None,
        help="semicolon-separated rows to pretrain (default: all), e.g. 'SIGMA-MLP, MGMAE masks'",
    )
    args = parser.parse_args()
    out = Path(args.output)
    root = default_dataset()
    runs: dict[str, list[dict[str, float]]] = {}
    timings: dict[str, list[float]] = {}
    started = time.perf_counter()
    variants = {**VARIANTS, **(MASK_VARIANTS if args.masks else {})}
    if args.only is not None:
        wanted = [name.strip() for name in args.only.split(";")]
        unknown = [name for name in wanted if name not in {**VARIANTS, **MASK_VARIANTS}]
        if unknown:
            parser.error(
                f"--only: unknown rows {unknown}; rows: {list({**VARIANTS, **MASK_VARIANTS})}"
            )
        variants = {name: o for name, o in {**VARIANTS, **MASK_VARIANTS}.items() if name in wanted}
    for seed in range(args.seeds):
        for name, overrides in variants.items():
            epochs = [] if args.epochs is None else [f"optim.epochs={args.epochs}"]
            config = load_config(
                "demo",
                [
                    f"run.output={out / name / f'seed{seed}'}",
                    f"run.seed={seed}",
                    f"data.workers={args.workers}",
                    "run.progress=false",
                    "run.probe_after=false",
                    *epochs,
                    *overrides,
                ],
            )
            if not args.eval_only:
                start = time.perf_counter()
                pretrain(config, overwrite=True, log=lambda _: None)
                timings.setdefault(name, []).append(time.perf_counter() - start)
            encoder, clip = load_model(out / name / f"seed{seed}")
            row = embedded_metrics(encoder, clip, root, args.max_sequences, workers=args.workers)
            runs.setdefault(name, []).append(row)
            print(name, seed, json.dumps(row), flush=True)
        initial = encoder_for(config, seed).eval()  # this seed's shared starting point
        runs.setdefault("random init", []).append(
            embedded_metrics(initial, clip, root, args.max_sequences, workers=args.workers)
        )
        if args.supervised:
            runs.setdefault("supervised ceiling", []).append(
                {
                    f"probe_{task}": finetuned(
                        "random:demo",
                        out / "supervised" / f"{task}{seed}",
                        seed,
                        task,
                        SUPERVISED[task],
                    )
                    for task in ("motion", "appearance")
                }
            )
            print("supervised", seed, json.dumps(runs["supervised ceiling"][-1]), flush=True)
        if args.finetune:
            sigma = str(out / "SIGMA-MLP" / f"seed{seed}")
            for start_from, checkpoint in (("SIGMA-MLP", sigma), ("random init", "random:demo")):
                top1 = finetuned(
                    checkpoint, out / "finetune" / f"{start_from}{seed}", seed, "motion", []
                )
                runs[start_from][-1]["finetune_motion"] = top1
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(runs)
    metrics = list(runs["random init"][0])  # (fine-tuning adds finetune_motion to it)
    lines = table(summary, metrics)
    minutes = (time.perf_counter() - started) / 60
    (out / "results.json").write_text(
        json.dumps(
            {"runs": runs, "pretrain_seconds": timings, "minutes": round(minutes, 1)}, indent=2
        )
    )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"{args.seeds} seed(s), {minutes:.1f} min in all")
    plot(summary, metrics, out / "results.png")


if __name__ == "__main__":
    main()
