"""The ``sigma-video`` command line: thin wrappers over the Python API.

User mistakes end with one ``sigma-video: error: ...`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sigma_video.models.registry import list_models


def _bench_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="print timing numbers as JSON")
    which = bench.add_subparsers(dest="bench", required=True, metavar="{sinkhorn,step}")
    sk = which.add_parser("sinkhorn", help="time Sinkhorn-Knopp on an (N, K) score matrix")
    sk.add_argument("--rows", type=int, default=45056, help="N (default 32 clips × 1408 tubes)")
    sk.add_argument("--prototypes", type=int, default=3000, help="K")
    sk.add_argument("--epsilon", type=float, default=0.05)
    sk.add_argument("--iterations", type=int, default=10)
    sk.add_argument("--repeats", type=int, default=5)
    sk.add_argument("--device", default="cpu")
    st = which.add_parser("step", help="time one pretraining step (forward+backward+AdamW)")
    st.add_argument("--model", default="vit_tiny", choices=list_models())
    st.add_argument("--batch-size", type=int, default=8)
    st.add_argument("--num-frames", type=int, default=None, help="default: the preset's")
    st.add_argument("--img-size", type=int, default=None, help="default: the preset's")
    st.add_argument("--target", default="mlp", choices=["mlp", "pixels"])
    st.add_argument("--objective", default="sigma", choices=["sigma", "l2"])
    st.add_argument("--prototypes", type=int, default=3000)
    st.add_argument("--mask-ratio", type=float, default=0.9)
    st.add_argument("--grad-checkpointing", action="store_true")
    st.add_argument("--repeats", type=int, default=5)
    st.add_argument("--device", default="cpu")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sigma-video", description="SIGMA video pretraining and evaluation"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="a short SIGMA run of the tiny model on generated clips")
    demo.add_argument("--steps", type=int, default=40)
    demo.add_argument("--batch-size", type=int, default=8)
    sub.add_parser("models", help="list the registered model presets")
    _bench_parser(sub)
    return parser


def run(args: argparse.Namespace) -> None:
    if args.command == "models":
        print("\n".join(list_models()))
    elif args.command == "demo":
        from sigma_video.demo import run_demo

        if args.steps < 1 or args.batch_size < 1:
            raise ValueError("--steps and --batch-size must be >= 1")
        run_demo(steps=args.steps, batch_size=args.batch_size)
    elif args.bench == "sinkhorn":
        from sigma_video.bench import bench_sinkhorn

        if args.rows < 1 or args.repeats < 1:
            raise ValueError("--rows and --repeats must be >= 1")
        print(
            json.dumps(
                bench_sinkhorn(
                    args.rows,
                    args.prototypes,
                    args.epsilon,
                    args.iterations,
                    args.repeats,
                    device=args.device,
                )
            )
        )
    else:
        from sigma_video.bench import bench_step

        if args.batch_size < 1 or args.repeats < 1:
            raise ValueError("--batch-size and --repeats must be >= 1")
        result = bench_step(
            args.model,
            args.batch_size,
            args.num_frames,
            args.img_size,
            args.target,
            args.objective,
            args.prototypes,
            args.mask_ratio,
            args.grad_checkpointing,
            args.repeats,
            device=args.device,
        )
        print(json.dumps(result))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run(args)
    except (ValueError, RuntimeError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        parser.exit(2, f"sigma-video: error: {message}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
