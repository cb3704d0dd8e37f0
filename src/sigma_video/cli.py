"""The ``sigma-video`` command line: thin wrappers over the Python API.

User mistakes end with one ``sigma-video: error: ...`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sigma_video.data.dataset import DataError
from sigma_video.engine.trainer import TrainingError
from sigma_video.models.registry import list_models


def _bench_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="print timing numbers as JSON")
    which = bench.add_subparsers(dest="bench", required=True, metavar="{sinkhorn,step,data}")
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
    st.add_argument("--target", default="mlp", choices=["mlp", "pixels", "dino"])
    st.add_argument("--objective", default="sigma", choices=["sigma", "l2"])
    st.add_argument("--prototypes", type=int, default=3000)
    st.add_argument("--mask-ratio", type=float, default=0.9)
    st.add_argument("--grad-checkpointing", action="store_true")
    st.add_argument("--repeats", type=int, default=5)
    st.add_argument("--device", default="cpu")
    st.add_argument("--peak-tflops", type=float, default=None, help="for MFU (default: known GPUs)")
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


def _data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="datasets: generate the embedded synthetic dataset")
    which = data.add_subparsers(dest="data", required=True, metavar="{synth}")
    synth = which.add_parser("synth", help="write the procedural video dataset")
    synth.add_argument("--output", required=True, help="folder to create")
    synth.add_argument("--num-train", type=int, default=240)
    synth.add_argument("--num-val", type=int, default=96)
    synth.add_argument("--frames", type=int, default=32)
    synth.add_argument("--size", type=int, default=96)
    synth.add_argument("--seed", type=int, default=0)


def _pretrain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain an encoder (no arguments: the demo recipe on the embedded dataset)",
        description="Pretrain with SIGMA or a baseline. Settings: defaults, then --config, "
        "then key=value overrides with dotted keys (e.g. optim.base_lr=3e-4 run.device=cpu).",
    )
    p.add_argument(
        "--config", default="demo", help="preset name or .toml/.json file (default: demo)"
    )
    p.add_argument("--data", default=None, help="annotation list or folder of videos")
    p.add_argument("--data-root", default=None, help="prefix for relative paths in --data")
    p.add_argument("--output", default=None, help="run directory (default: the preset's)")
    p.add_argument(
        "--resume",
        default=None,
        help="'auto' (latest checkpoint of --output) or a checkpoint folder",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")


def _eval_parsers(sub: argparse._SubParsersAction) -> None:
    for name, text in (
        ("probe", "linear probe on frozen, cached features; last line is JSON"),
        ("knn", "weighted kNN (k = 20, 200; T = 0.07) on frozen features; last line is JSON"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--checkpoint", required=True, help="run dir, checkpoint, or random:PRESET")
        p.add_argument("--train", required=True, help="training list (the kNN bank)")
        p.add_argument("--val", required=True, help="validation list")
        p.add_argument("--data-root", default=None)
        p.add_argument("--num-clips", type=int, default=1)
        p.add_argument("--num-crops", type=int, default=1)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--device", default="cpu")
        p.add_argument("--cache-dir", default=None, help="feature cache (default: user cache)")
    ex = sub.add_parser("extract", help="pooled clip features and labels to a safetensors file")
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument("--data", required=True, help="annotation list")
    ex.add_argument("--data-root", default=None)
    ex.add_argument("--output", required=True, help=".safetensors file to write")
    ex.add_argument("--num-clips", type=int, default=1)
    ex.add_argument("--num-crops", type=int, default=1)
    ex.add_argument("--workers", type=int, default=2)
    ex.add_argument("--device", default="cpu")


def _run_eval(args: argparse.Namespace) -> None:
    from sigma_video.evaluation.cache import check_labels, features_for

    common = {
        "data_root": args.data_root,
        "num_clips": args.num_clips,
        "num_crops": args.num_crops,
        "workers": args.workers,
        "device": args.device,
    }
    if args.command == "extract":
        from safetensors.torch import save_file

        feats, labels = features_for(args.checkpoint, args.data, **common)
        save_file({"features": feats, "labels": labels}, args.output)
        print(json.dumps({"output": args.output, "num": len(feats), "dim": feats.shape[1]}))
        return
    cache = {"cache_dir": args.cache_dir}
    train_x, train_y = features_for(args.checkpoint, args.train, **common, **cache)
    val_x, val_y = features_for(args.checkpoint, args.val, **common, **cache)
    check_labels(train_y, val_y)
    if args.command == "probe":
        from sigma_video.evaluation.probe import linear_probe

        result = linear_probe(train_x, train_y, val_x, val_y)
    else:
        from sigma_video.evaluation.knn import knn_scores
        from sigma_video.evaluation.metrics import topk_accuracy

        classes = int(max(train_y.max(), val_y.max())) + 1
        result = {"num_train": len(train_x), "num_val": len(val_x)}
        for k in (20, 200):
            scores = knn_scores(train_x, train_y, val_x, k=k, temperature=0.07, num_classes=classes)
            result[f"top1_k{k}"] = topk_accuracy(scores, val_y, 1)
        result["top1"] = result["top1_k200"]
    print(json.dumps({"checkpoint": args.checkpoint, **result}))


def _segment_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="unsupervised video object segmentation (DAVIS layout)")
    p.add_argument("--checkpoint", required=True, help="run dir, checkpoint, file or random:PRESET")
    p.add_argument("--davis", required=True, help="DAVIS-2017-style root folder")
    p.add_argument("--split", default="val")
    p.add_argument("--clusters", default="gt", help="K for the clustering protocol, or 'gt'")
    p.add_argument("--overclusters", type=int, default=10)
    p.add_argument("--clip-len", type=int, default=16)
    p.add_argument("--size", type=int, default=None, help="input size (default: the encoder's)")
    p.add_argument("--output", default=None, help="folder for cluster-map overlays (PNG + GIF)")
    p.add_argument("--max-sequences", type=int, default=None)


def _run_segment(args: argparse.Namespace) -> None:
    from pathlib import Path

    from sigma_video.evaluation.loading import load_encoder
    from sigma_video.evaluation.segmentation import SegmentConfig, evaluate_segmentation

    if args.clusters != "gt" and not args.clusters.isdigit():
        raise ValueError(f"--clusters must be a number or 'gt', got {args.clusters!r}")
    clusters = None if args.clusters == "gt" else int(args.clusters)
    if (clusters is not None and clusters < 2) or args.overclusters < 2 or args.clip_len < 2:
        raise ValueError("--clusters and --overclusters must be >= 2 and --clip-len >= 2")
    encoder, config = load_encoder(args.checkpoint)
    settings = SegmentConfig(
        clip_len=args.clip_len, clusters=clusters, overclusters=args.overclusters
    )
    result = evaluate_segmentation(
        encoder,
        args.davis,
        args.size or config.data.size,
        args.split,
        settings,
        Path(args.output) if args.output else None,
        args.max_sequences,
    )
    print(json.dumps({"checkpoint": args.checkpoint, **result}))


def _convert_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="encoder checkpoints between formats (reference, sigma-video, Hugging Face)"
    )
    p.add_argument(
        "--input", required=True, help="reference .pth, run dir, checkpoint or VideoMAE folder"
    )
    p.add_argument("--output", required=True, help="folder to write")
    p.add_argument(
        "--to",
        default="sigma",
        choices=["sigma", "hf"],
        help="sigma: encoder.safetensors + encoder.json; hf: transformers VideoMAEModel folder",
    )
    p.add_argument("--strict", action="store_true", help="refuse any unexpected key too")


def _run_convert(args: argparse.Namespace) -> None:
    from sigma_video.evaluation.loading import load_encoder, save_converted

    encoder, config = load_encoder(args.input, strict=args.strict)
    clip = {
        "num_frames": config.data.num_frames,
        "stride": config.data.stride,
        "size": config.data.size,
    }
    if args.to == "hf":
        from sigma_video.interop.huggingface import export_videomae

        folder = export_videomae(encoder, args.output)
    else:
        folder = save_converted(encoder, clip, args.output)
    c = encoder.config
    print(json.dumps({"output": str(folder), "embed_dim": c.embed_dim, "depth": c.depth, **clip}))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sigma-video", description="SIGMA video pretraining and evaluation"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _pretrain_parser(sub)
    _eval_parsers(sub)
    _convert_parser(sub)
    _segment_parser(sub)
    sub.add_parser("models", help="list the registered model presets")
    sub.add_parser("presets", help="list the configuration presets")
    _bench_parser(sub)
    _data_parser(sub)
    return parser


def run(args: argparse.Namespace) -> None:
    if args.command == "models":
        print("\n".join(list_models()))
    elif args.command == "presets":
        from sigma_video.config import list_presets

        print("\n".join(list_presets()))
    elif args.command == "pretrain":
        _run_pretrain(args)
    elif args.command in ("probe", "knn", "extract"):
        _run_eval(args)
    elif args.command == "convert":
        _run_convert(args)
    elif args.command == "segment":
        _run_segment(args)
    elif args.command == "data":
        from sigma_video.data.synth import SynthConfig, write_dataset

        config = SynthConfig(args.num_train, args.num_val, args.frames, args.size, seed=args.seed)
        root = write_dataset(args.output, config)
        print(f"wrote {config.num_train} + {config.num_val} videos to {root} (train.csv, val.csv)")
    elif args.bench == "data":
        _run_bench_data(args)
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
        )
        print(json.dumps(result))


def _run_pretrain(args: argparse.Namespace) -> None:
    from sigma_video.config import load_config
    from sigma_video.engine.trainer import pretrain

    overrides = list(args.overrides)
    for flag, key in (
        (args.data, "data.train"),
        (args.data_root, "data.data_root"),
        (args.output, "run.output"),
    ):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    config = load_config(args.config, overrides)
    summary = pretrain(config, resume=args.resume, overwrite=args.overwrite)
    if config.run.probe_after and config.data.train is None:
        from sigma_video.evaluation.report import probe_report

        probe_report(summary["run_dir"])


def _run_bench_data(args: argparse.Namespace) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run(args)
    except (ValueError, DataError, TrainingError) as err:  # user mistakes, bad data, divergence
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        parser.exit(2, f"sigma-video: error: {message}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
