"""``sigma-video bench ...``: each sub-command prints JSON lines. Nothing here imports
torch before the arguments are parsed."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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
    sk.set_defaults(func=run_sinkhorn)

    st = which.add_parser(
        "step",
        help="time one pretraining step (forward+backward+AdamW)",
        description="Time one pretraining step of the variant that key=value overrides of "
        "a pretraining config's [model] and [mask] sections describe (from vit_tiny), e.g. "
        "model.arch=vit_base model.target.kind=dino model.grad_checkpointing=true "
        "mask.ratio=0.75.",
    )
    st.add_argument("--batch-size", type=int, default=8)
    st.add_argument("--repeats", type=int, default=5)
    st.add_argument("--device", default="cpu")
    st.add_argument("--peak-tflops", type=float, default=None, help="for MFU (default: known GPUs)")
    st.add_argument("--no-tf32", action="store_true", help="float32 scores without TF32")
    st.add_argument("--compile", action="store_true", help="torch.compile the model")
    st.add_argument("overrides", nargs="*", metavar="key=value", help="model and mask settings")
    st.set_defaults(func=run_step)

    pl = which.add_parser(
        "pipeline", help="whole training pipeline on real video: busy share per worker count"
    )
    pl.add_argument("--config", default="demo", help="pretraining preset (default: demo)")
    pl.add_argument("--steps", type=int, default=30)
    pl.add_argument("--workers", default="0,2,4", help="comma-separated worker counts")
    pl.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    pl.set_defaults(func=run_pipeline)

    ev = which.add_parser("probe", help="linear probe + kNN on 10k cached features (seconds)")
    ev.add_argument("--num-train", type=int, default=10_000)
    ev.add_argument("--classes", type=int, default=400)
    ev.set_defaults(func=run_probe)
    seg = which.add_parser("segment", help="segmentation of one DAVIS 480p clip beyond features")
    seg.set_defaults(func=run_segment)

    dt = which.add_parser("data", help="data-loader throughput per backend and num_sample")
    dt.add_argument("--list", default=None, help="annotation list (default: the embedded dataset)")
    dt.add_argument("--data-root", default=None, help="prefix for relative paths in --list")
    dt.add_argument("--workers", type=int, default=2)
    dt.add_argument("--num-frames", type=int, default=16)
    dt.add_argument("--stride", type=int, default=4)
    dt.add_argument("--size", type=int, default=224)
    dt.add_argument(
        "--num-sample",
        default="4",
        help="repeated-augmentation views; a comma list (1,2,4) times each (1 is always in)",
    )
    dt.add_argument("--clips", type=int, default=64, help="decodes per measurement")
    dt.add_argument("--backend", action="append", default=None, help="repeatable; default all")
    dt.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the comparisons (two opens per sample, no frame skipping, whole video)",
    )
    dt.add_argument(
        "--like",
        default=None,
        choices=["k400", "k400-g16", "k400-raw", "ssv2"],
        help="generate (once, in the cache) and time files shaped like this dataset; the "
        "stride is the recipe's for it",
    )
    dt.add_argument("--count", type=int, default=6, help="with --like: how many files")
    dt.add_argument(
        "--profile", action="store_true", help="also where one decode's time goes (--like)"
    )
    dt.add_argument(
        "--shards",
        action="store_true",
        help="read the same videos from tar shards (written once beside them: data shard)",
    )
    dt.add_argument(
        "--decode-in",
        default="loader",
        choices=["loader", "step"],
        help="step: the workers plan, this process decodes on --device (NVDEC with "
        "--backend torchcodec on cuda)",
    )
    dt.add_argument("--device", default="cpu", help="with --decode-in step: cpu or cuda")
    dt.set_defaults(func=run_data)

    mk = which.add_parser(
        "masking", help="motion-guided masks' cost per clip (flow, mask) and loader clips/s"
    )
    mk.add_argument("--list", default=None, help="annotation list (default: the embedded dataset)")
    mk.add_argument("--data-root", default=None)
    mk.add_argument("--like", default=None, choices=["k400", "k400-g16", "k400-raw", "ssv2"])
    mk.add_argument("--num-frames", type=int, default=16)
    mk.add_argument("--stride", type=int, default=4)
    mk.add_argument("--size", type=int, default=224)
    mk.add_argument("--patch", type=int, default=16)
    mk.add_argument("--ratio", type=float, default=0.9)
    mk.add_argument("--workers", type=int, default=1)
    mk.add_argument("--clips", type=int, default=24, help="clips per loader measurement")
    mk.add_argument("--repeats", type=int, default=5)
    mk.set_defaults(func=run_masking)


def emit(results: Iterable[dict[str, Any]]) -> None:
    for result in results:
        print(json.dumps(result), flush=True)


def run_sinkhorn(args: argparse.Namespace) -> None:
    from sigma_video.bench.core import bench_sinkhorn

    if args.rows < 1 or args.repeats < 1:
        raise ValueError("--rows and --repeats must be >= 1")
    options = {"epsilon": args.epsilon, "iterations": args.iterations, "repeats": args.repeats}
    emit([bench_sinkhorn(args.rows, args.prototypes, **options, device=args.device)])


def run_step(args: argparse.Namespace) -> None:
    from sigma_video.bench.core import bench_step, step_variant

    if args.batch_size < 1 or args.repeats < 1:
        raise ValueError("--batch-size and --repeats must be >= 1")
    result = bench_step(
        step_variant(args.overrides),
        args.batch_size,
        args.repeats,
        device=args.device,
        peak_tflops=args.peak_tflops,
        tf32=not args.no_tf32,
        compile=args.compile,
    )
    emit([result])


def run_pipeline(args: argparse.Namespace) -> None:
    from sigma_video.bench.data import bench_pipeline

    try:
        workers = tuple(int(w) for w in args.workers.split(","))
    except ValueError:
        raise ValueError(
            f"--workers must be comma-separated integers, got {args.workers!r}"
        ) from None
    if min(workers) < 0:
        raise ValueError("--workers must be >= 0")
    emit(bench_pipeline(args.config, tuple(args.overrides), args.steps, workers))


def run_probe(args: argparse.Namespace) -> None:
    from sigma_video.bench.evaluation import bench_probe

    if args.num_train < 10 or args.classes < 2:
        raise ValueError("need --num-train >= 10 and --classes >= 2")
    emit([bench_probe(args.num_train, args.num_train // 5, classes=args.classes)])


def run_segment(args: argparse.Namespace) -> None:
    from sigma_video.bench.evaluation import bench_segment

    emit([bench_segment()])


def run_data(args: argparse.Namespace) -> None:
    from sigma_video.bench.data import bench_data

    try:
        samples = tuple(sorted({1, *(int(n) for n in str(args.num_sample).split(","))}))
    except ValueError:
        raise ValueError(f"--num-sample must be integers, got {args.num_sample!r}") from None
    if args.workers < 0 or args.clips < 2 or samples[0] < 1:
        raise ValueError("need --workers >= 0, --clips >= 2 and --num-sample >= 1")
    records = bench_records(args)
    if args.like is not None and args.profile:
        from sigma_video.bench.data import profile_decode

        emit([profile_decode(records, args.num_frames, args.stride, args.size, args.like)])
    emit(
        bench_data(
            records,
            args.num_frames,
            args.stride,
            args.size,
            args.workers,
            samples,
            tuple(args.backend) if args.backend else None,
            args.clips,
            baseline=not args.no_baseline,
            decode_in=args.decode_in,
            device=args.device,
        )
    )


def run_masking(args: argparse.Namespace) -> None:
    from sigma_video.bench.masking import bench_mask_loader, bench_mask_parts

    if args.workers < 0 or args.clips < 2 or args.repeats < 1:
        raise ValueError("need --workers >= 0, --clips >= 2 and --repeats >= 1")
    if args.size % args.patch or args.num_frames % 2:
        raise ValueError("--size must be a multiple of --patch and --num-frames even")
    records = bench_records(args)
    shape = (args.num_frames, args.stride, args.size, args.patch, args.ratio)
    emit(bench_mask_parts(records, *shape, args.repeats))
    emit(bench_mask_loader(records, *shape, args.workers, args.clips))


def bench_records(args: argparse.Namespace) -> list:
    """The records a data benchmark times: ``--like`` files (``--count`` of them, and the
    recipe's stride for that dataset), ``--list`` (a list or shards), or the embedded set;
    with ``--shards`` the same videos read from tar shards written beside them."""
    from sigma_video.data.annotations import VideoRecord, read_list, read_records
    from sigma_video.synth.cache import default_cache_dir
    from sigma_video.synth.dataset import default_dataset

    if args.like is not None:
        from sigma_video.bench.like import LIKE, write_like

        args.stride = LIKE[args.like].stride
        folder = default_cache_dir() / "like"
        paths = write_like(args.like, folder, getattr(args, "count", 6))
        records = [VideoRecord(str(p), 0) for p in paths]
        name = f"{args.like}-{len(paths)}"
    elif args.list is None:
        root = default_dataset()
        records, folder, name = read_list(root / "train.csv", root=str(root))[0], root, "train"
    else:
        records = read_records(args.list, root=args.data_root)
        folder = default_cache_dir() / "bench-shards"
        name = hashlib.sha1(str(Path(args.list).resolve()).encode()).hexdigest()[:12]
    if not getattr(args, "shards", False):
        return records
    from sigma_video.data.shard_writer import write_shards

    shards = Path(folder) / "shards" / name
    if not (shards / "shards.json").exists():
        write_shards(records, shards)
    return read_records(shards)
