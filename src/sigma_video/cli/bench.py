"""``sigma-video bench`` and ``sigma-video data``."""

from __future__ import annotations

import argparse
import json


def bench_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="print timing numbers as JSON")
    which = bench.add_subparsers(
        dest="bench", required=True, metavar="{sinkhorn,step,data,pipeline,probe,segment}"
    )
    sk = which.add_parser("sinkhorn", help="time Sinkhorn-Knopp on an (N, K) score matrix")
    sk.add_argument("--rows", type=int, default=45056, help="N (default 32 clips × 1408 tubes)")
    sk.add_argument("--prototypes", type=int, default=3000, help="K")
    sk.add_argument("--epsilon", type=float, default=0.05)
    sk.add_argument("--iterations", type=int, default=10)
    sk.add_argument("--repeats", type=int, default=5)
    sk.add_argument("--device", default="cpu")
    st = which.add_parser("step", help="time one pretraining step (forward+backward+AdamW)")
    st.add_argument("--model", default="vit_tiny", help="a model preset (sigma-video models)")
    st.add_argument("--batch-size", type=int, default=8)
    st.add_argument("--num-frames", type=int, default=None, help="default: the preset's")
    st.add_argument("--img-size", type=int, default=None, help="default: the preset's")
    st.add_argument("--target", default="mlp", choices=["mlp", "pixels", "dino"])
    st.add_argument("--objective", default="sigma", choices=["sigma", "l2"])
    st.add_argument("--prototypes", type=int, default=3000)
    st.add_argument("--mask-ratio", type=float, default=0.9)
    st.add_argument("--grad-checkpointing", action="store_true")
    st.add_argument("--no-tf32", action="store_true", help="float32 scores without TF32")
    st.add_argument("--compile", action="store_true", help="torch.compile the model")
    st.add_argument("--repeats", type=int, default=5)
    st.add_argument("--device", default="cpu")
    st.add_argument("--peak-tflops", type=float, default=None, help="for MFU (default: known GPUs)")
    pl = which.add_parser(
        "pipeline", help="whole training pipeline on real video: busy share per worker count"
    )
    pl.add_argument("--config", default="demo", help="pretraining preset (default: demo)")
    pl.add_argument("--steps", type=int, default=30)
    pl.add_argument("--workers", default="0,2,4", help="comma-separated worker counts")
    pl.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    ev = which.add_parser("probe", help="linear probe + kNN on 10k cached features (seconds)")
    ev.add_argument("--num-train", type=int, default=10_000)
    ev.add_argument("--classes", type=int, default=400)
    which.add_parser("segment", help="segmentation of one DAVIS 480p clip beyond features")
    dt = which.add_parser("data", help="data-loader throughput per backend and num_sample")
    dt.add_argument("--list", default=None, help="annotation list (default: the embedded dataset)")
    dt.add_argument("--data-root", default=None, help="prefix for relative paths in --list")
    dt.add_argument("--workers", type=int, default=2)
    dt.add_argument("--num-frames", type=int, default=16)
    dt.add_argument("--stride", type=int, default=4)
    dt.add_argument("--size", type=int, default=224)
    dt.add_argument("--num-sample", type=int, default=4, help="repeated-augmentation views")
    dt.add_argument("--clips", type=int, default=64, help="decodes per measurement")
    dt.add_argument("--backend", action="append", default=None, help="repeatable; default all")
    dt.add_argument("--no-baseline", action="store_true", help="skip the whole-video baseline")


def data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser(
        "data", help="datasets: check a list before training, write the embedded dataset"
    )
    which = data.add_subparsers(dest="data", required=True, metavar="{check,synth}")
    check = which.add_parser(
        "check",
        help="report missing, undecodable, too-short and too-small videos of a list; last "
        "line is JSON; exit 1 when a file cannot be read",
    )
    check.add_argument("list", help="annotation list, SSv2 JSON or folder")
    check.add_argument("--data-root", default=None, help="prefix for relative paths")
    check.add_argument("--num-frames", type=int, default=16)
    check.add_argument("--stride", type=int, default=4)
    check.add_argument("--size", type=int, default=224, help="crop size the clips need")
    check.add_argument("--workers", type=int, default=4)
    check.add_argument("--backend", default="pyav")
    synth = which.add_parser("synth", help="write the procedural video dataset")
    synth.add_argument("--output", required=True, help="folder to create")
    synth.add_argument("--num-train", type=int, default=480)
    synth.add_argument("--num-val", type=int, default=96)
    synth.add_argument("--frames", type=int, default=32)
    synth.add_argument("--size", type=int, default=96)
    synth.add_argument("--seed", type=int, default=0)


def run_bench_data(args: argparse.Namespace) -> None:
    from sigma_video.bench import bench_data
    from sigma_video.data.annotations import read_list
    from sigma_video.data.synth import default_dataset

    if args.workers < 0 or args.clips < 2 or args.num_sample < 1:
        raise ValueError("need --workers >= 0, --clips >= 2 and --num-sample >= 1")
    if args.list is None:
        root = default_dataset()
        records, _ = read_list(root / "train.csv", root=str(root))
    else:
        records, _ = read_list(args.list, root=args.data_root)
    samples = (1,) if args.num_sample == 1 else (1, args.num_sample)
    for result in bench_data(
        records,
        args.num_frames,
        args.stride,
        args.size,
        args.workers,
        samples,
        tuple(args.backend) if args.backend else None,
        args.clips,
        baseline=not args.no_baseline,
    ):
        print(json.dumps(result), flush=True)


def run_data_check(args: argparse.Namespace) -> None:
    import sys

    from sigma_video.data.annotations import read_records
    from sigma_video.data.check import check_records, clip_span

    if args.num_frames < 1 or args.stride < 1 or args.size < 1 or args.workers < 1:
        raise ValueError("--num-frames, --stride, --size and --workers must be >= 1")
    records = read_records(args.list, args.data_root)
    span = clip_span(args.num_frames, args.stride)
    report = check_records(records, span, args.size, args.backend, args.workers)
    labels = {
        "missing": "missing",
        "undecodable": "cannot be decoded",
        "too_short": f"shorter than one clip ({span} frames; padded by repeating the last)",
        "too_small": f"smaller than {args.size} px (upscaled)",
    }
    for kind, found in report.problems.items():
        if found:
            shown = "; ".join(f"{p} ({d})" for p, d in found[:5])
            more = f" and {len(found) - 5} more" if len(found) > 5 else ""
            print(f"{len(found)} {labels[kind]}: {shown}{more}")
    print(json.dumps({"list": str(args.list), **report.counts()}))
    if report.unusable:
        sys.exit(1)


def run_bench(args: argparse.Namespace) -> None:
    if args.command == "bench" and args.bench in ("pipeline", "probe", "segment"):
        for result in _eval_or_pipeline(args):
            print(json.dumps(result), flush=True)
    elif args.command == "data" and args.data == "check":
        run_data_check(args)
    elif args.command == "data":
        from sigma_video.data.synth import SynthConfig, write_dataset

        config = SynthConfig(args.num_train, args.num_val, args.frames, args.size, seed=args.seed)
        root = write_dataset(args.output, config)
        print(f"wrote {config.num_train} + {config.num_val} videos to {root} (train.csv, val.csv)")
    elif args.bench == "data":
        run_bench_data(args)
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
            peak_tflops=args.peak_tflops,
            tf32=not args.no_tf32,
            compile=args.compile,
        )
        print(json.dumps(result))


def _eval_or_pipeline(args: argparse.Namespace) -> list[dict]:
    if args.bench == "pipeline":
        from sigma_video.bench import bench_pipeline

        try:
            workers = tuple(int(w) for w in args.workers.split(","))
        except ValueError:
            raise ValueError(
                f"--workers must be comma-separated integers, got {args.workers!r}"
            ) from None
        if min(workers) < 0:
            raise ValueError("--workers must be >= 0")
        return bench_pipeline(args.config, tuple(args.overrides), args.steps, workers)
    from sigma_video.evaluation.bench import bench_probe, bench_segment

    if args.bench == "probe":
        if args.num_train < 10 or args.classes < 2:
            raise ValueError("need --num-train >= 10 and --classes >= 2")
        return [bench_probe(args.num_train, args.num_train // 5, classes=args.classes)]
    return [bench_segment()]
