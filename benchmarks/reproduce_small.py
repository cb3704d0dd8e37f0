"""The small-scale reproduction: SIGMA-MLP vs VideoMAE-pixel vs feature-L2 vs random init.

    python benchmarks/reproduce_small.py [--epochs 40] [--output runs/reproduce_small]

On the embedded generated dataset, each objective pretrains the tiny model with the demo
recipe and the same budget; then every encoder (and the shared random initialisation) is
evaluated frozen: linear probe and kNN on the motion and the appearance labels, and
unsupervised video object segmentation (mIoU, clustering and over-clustering) on the
DAVIS-layout val videos. Writes ``results.json``, ``results.md`` and ``results.png``
(needs matplotlib: ``pip install 'sigma-video[plots]'``). This is what a skeptical reader
runs first; the numbers for our machine are in BENCHMARKS.md, whatever they turn out to be.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sigma_video.config import load_config
from sigma_video.data.synth import default_dataset
from sigma_video.engine.trainer import pretrain
from sigma_video.evaluation.loading import encoder_for, load_encoder
from sigma_video.evaluation.report import embedded_metrics

VARIANTS = {
    "SIGMA-MLP": [],
    "VideoMAE-pixel": ["model.target=pixels", "model.objective=l2"],
    "feature-L2": ["model.objective=l2"],
}


def plot(results: dict[str, dict[str, float]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'sigma-video[plots]')")
        return
    metrics = list(next(iter(results.values())))
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(results)
    for i, (name, row) in enumerate(results.items()):
        xs = [m + i * width for m in range(len(metrics))]
        ax.bar(xs, [100 * row[m] for m in metrics], width, label=name)
    ax.set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics, rotation=20)
    ax.set_ylabel("%")
    ax.set_title("Frozen tiny encoders after equal pretraining on the embedded dataset")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40, help="pretraining budget per variant")
    parser.add_argument("--output", default="runs/reproduce_small")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-sequences", type=int, default=32)
    parser.add_argument(
        "--eval-only", action="store_true", help="re-evaluate the runs already in --output"
    )
    args = parser.parse_args()
    out = Path(args.output)
    root = default_dataset()
    results, timings = {}, {}
    for name, overrides in VARIANTS.items():
        config = load_config(
            "demo",
            [
                f"run.output={out / name}",
                f"optim.epochs={args.epochs}",
                f"data.workers={args.workers}",
                "run.progress=false",
                "run.probe_after=false",
                *overrides,
            ],
        )
        if not args.eval_only:
            start = time.perf_counter()
            pretrain(config, overwrite=True)
            timings[name] = time.perf_counter() - start
        encoder, run_config = load_encoder(out / name)
        results[name] = embedded_metrics(encoder, run_config, root, args.max_sequences)
        print(name, json.dumps(results[name]), flush=True)
    initial = encoder_for(run_config, run_config.run.seed).eval()  # the runs' shared start
    results["random init"] = embedded_metrics(initial, run_config, root, args.max_sequences)
    out.mkdir(parents=True, exist_ok=True)
    if args.eval_only and (out / "results.json").exists():
        timings = json.loads((out / "results.json").read_text())["pretrain_seconds"]
    (out / "results.json").write_text(
        json.dumps({"results": results, "pretrain_seconds": timings}, indent=2)
    )
    metrics = list(results["random init"])
    lines = ["| encoder | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    lines += [
        f"| {n} | " + " | ".join(f"{100 * r[m]:.1f}" for m in metrics) + " |"
        for n, r in results.items()
    ]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(results, out / "results.png")


if __name__ == "__main__":
    main()
