"""Benchmarks of the method core, one JSON line each: Sinkhorn and full training steps.

    python benchmarks/core.py [--device cuda] [--quick]

The sizes are the reference recipe's (ViT-B batch 32: N = 32·1408 = 45 056 masked tubes,
K = 3000) plus smaller CPU-friendly ones. Record the output in BENCHMARKS.md with the machine.
"""

from __future__ import annotations

import argparse
import json

from sigma_video.bench import bench_sinkhorn, bench_step
from sigma_video.bench.core import step_variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")

    sinkhorn_sizes = [(5632, 3000)] if args.quick else [(5632, 3000), (45056, 3000)]
    for rows, k in sinkhorn_sizes:
        print(json.dumps(bench_sinkhorn(rows, k, repeats=3, device=args.device)), flush=True)

    videomae = ["model.target.kind=pixels", "model.objective.kind=l2"]
    steps = [(step_variant(arch="vit_tiny"), 8)]
    if not args.quick:
        steps.append((step_variant(arch="vit_small"), 32 if gpu else 2))
        if gpu:
            steps.append((step_variant(arch="vit_base"), 32))
            steps.append((step_variant(videomae, arch="vit_base"), 32))
    for variant, batch_size in steps:
        result = bench_step(variant, batch_size, repeats=3, device=args.device)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
