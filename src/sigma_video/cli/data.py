"""``sigma-video data check|synth``: check a list before training, write the embedded
dataset (or, ``--tasks``, its multi-label and repetition-counting videos)."""

from __future__ import annotations

import argparse
import json


def data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser(
        "data",
        help="datasets: check a list, write it as shards, write the embedded dataset",
    )
    which = data.add_subparsers(dest="data", required=True, metavar="{check,shard,synth}")
    check = which.add_parser(
        "check",
        help="report malformed lines and missing, undecodable, too-short and too-small "
        "videos of a list; last line is JSON; exit 1 when a line or file cannot be used",
        description="Check a list against a run's clips: data.num_frames, data.stride, "
        "data.size, data.backend and data.data_root of --config (default: demo) and its "
        "key=value overrides; the flags, when given, override those.",
    )
    check.add_argument("list", help="annotation list, SSv2 JSON or folder")
    check.add_argument(
        "--config", default="demo", help="pretraining preset or .toml/.json (default: demo)"
    )
    check.add_argument("--data-root", default=None, help="prefix for relative paths")
    check.add_argument("--num-frames", type=int, default=None, help="default: data.num_frames")
    check.add_argument("--stride", type=int, default=None, help="default: data.stride")
    check.add_argument("--size", type=int, default=None, help="crop size (default: data.size)")
    check.add_argument("--workers", type=int, default=4, help="decoding threads")
    check.add_argument("--backend", default=None, help="default: data.backend")
    check.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    check.set_defaults(func=run_data_check)
    shard = which.add_parser(
        "shard",
        help="write a list's videos as tar shards (WebDataset layout, with an index per shard "
        "and shards.json); continues after the shards already complete in --output",
    )
    shard.add_argument("list", help="annotation list, SSv2 JSON or folder")
    shard.add_argument("--output", required=True, help="folder of the shards")
    shard.add_argument("--data-root", default=None, help="prefix for relative paths")
    shard.add_argument("--shard-size", default="1GB", help="bytes per shard, e.g. 1GB, 500MB")
    shard.add_argument(
        "--resize-short",
        type=int,
        default=None,
        help="re-encode videos whose shorter side is larger to this many pixels (H.264)",
    )
    shard.add_argument("--jobs", type=int, default=1, help="processes reading the inputs")
    shard.set_defaults(func=run_data_shard)
    synth = which.add_parser("synth", help="write the procedural video dataset")
    synth.add_argument("--output", required=True, help="folder to create")
    for name in ("num-train", "num-val", "frames", "size", "seed"):  # default: the embedded set's
        synth.add_argument(f"--{name}", type=int, default=None)
    synth.add_argument(
        "--workers", type=int, default=None, help="processes (default: the usable cores, ≤ 8)"
    )
    synth.add_argument(
        "--tasks",
        action="store_true",
        help="write the multi-label and repetition-counting videos instead (SEVERE's task "
        "shift: multilabel_*.csv, count_*.csv)",
    )
    synth.set_defaults(func=run_data_synth)


def run_data_check(args: argparse.Namespace) -> None:
    import sys

    from sigma_video.cli.train import with_flags
    from sigma_video.data.annotations import read_source
    from sigma_video.data.check import check_records, clip_span
    from sigma_video.pretraining.config import load_pretrain_config

    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    flags = {
        "data.num_frames": args.num_frames,
        "data.stride": args.stride,
        "data.size": args.size,
        "data.backend": args.backend,
        "data.data_root": args.data_root,
    }
    data = load_pretrain_config(args.config, with_flags(args.overrides, flags)).data
    records, malformed = read_source(args.list, data.data_root)
    span = clip_span(data.num_frames, data.stride)
    report = check_records(records, span, data.size, data.backend, args.workers, malformed)
    labels = {
        "malformed": "malformed lines (left out)",
        "missing": "missing",
        "undecodable": "cannot be decoded",
        "too_short": f"shorter than one clip ({span} frames; padded by repeating the last)",
        "too_small": f"smaller than {data.size} px (upscaled)",
    }
    for kind, found in report.problems.items():
        if found:
            shown = "; ".join(f"{p} ({d})" for p, d in found[:5])
            more = f" and {len(found) - 5} more" if len(found) > 5 else ""
            print(f"{len(found)} {labels[kind]}: {shown}{more}")
    print(json.dumps({"list": str(args.list), **report.counts()}))
    if report.unusable:
        sys.exit(1)


def run_data_shard(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from sigma_video.data.annotations import read_source
    from sigma_video.data.shard_writer import parse_size, write_shards

    if args.jobs < 1 or (args.resize_short is not None and args.resize_short < 2):
        raise ValueError("--jobs must be >= 1 and --resize-short >= 2")
    size = parse_size(args.shard_size)
    records, malformed = read_source(args.list, args.data_root)
    with tqdm(total=len(records), unit="video", mininterval=2) as bar:
        manifest = write_shards(
            records, args.output, size, args.resize_short, args.jobs, bar.update
        )
    skipped = manifest["skipped"]
    if skipped:
        shown = "; ".join(f"{p} ({r})" for p, r in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        print(f"{len(skipped)} unreadable, left out: {shown}{more}")
    print(
        f"wrote {manifest['samples']} videos in {len(manifest['shards'])} shards to "
        f"{args.output} ({len(malformed)} malformed list lines, {len(skipped)} unreadable "
        f"videos left out); read them with data.train={args.output}"
    )


def run_data_synth(args: argparse.Namespace) -> None:
    from sigma_video.synth.dataset import write_dataset
    from sigma_video.synth.spec import SynthConfig

    given = {k: getattr(args, k) for k in ("num_train", "num_val", "frames", "size", "seed")}
    given = {k: v for k, v in given.items() if v is not None}
    if args.tasks:
        from sigma_video.synth.tasks import TaskSynthConfig, write_task_dataset

        tasks = TaskSynthConfig(**given)
        root = write_task_dataset(args.output, tasks, workers=args.workers)
        print(
            f"wrote 2 × ({tasks.num_train} + {tasks.num_val}) videos to {root} "
            "(multilabel_{train,val}.csv, count_{train,val}.csv)"
        )
        return
    config = SynthConfig(**given)
    root = write_dataset(args.output, config, workers=args.workers)
    print(f"wrote {config.num_train} + {config.num_val} videos to {root} (train.csv, val.csv)")
