"""``sigma-video probe | knn | extract | segment | convert``: the flags, then the protocol
(``sigma_video.evaluation.protocol``; defaults from ``evaluation.settings``) and its JSON line."""

from __future__ import annotations

import argparse
import json
import sys

from sigma_video.evaluation.settings import (
    CLIP_LEN,
    KNN_KS,
    KNN_TEMPERATURE,
    FeatureOptions,
    ProbeSettings,
    SegmentConfig,
)


def eval_parsers(sub: argparse._SubParsersAction) -> None:
    ks = ", ".join(str(k) for k in KNN_KS)
    top = ", ".join(f"top1_k{k}" for k in KNN_KS)
    for name, text in (
        ("probe", "linear probe on frozen, cached features; last line is JSON (top1/top5 in %%)"),
        (
            "knn",
            f"weighted kNN (k = {ks}; T = {KNN_TEMPERATURE}) on frozen features; last line is "
            f"JSON ({top} in %%)",
        ),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--checkpoint", required=True, help="run dir, checkpoint, or random:PRESET")
        p.add_argument("--train", required=True, help="training list (the kNN bank)")
        p.add_argument("--val", required=True, help="validation list")
        p.add_argument("--data-root", default=FeatureOptions.data_root)
        feature_arguments(p)
        p.add_argument("--cache-dir", default=None, help="feature cache (default: user cache)")
        p.add_argument("--output", default=None, help="folder to write result.json into")
        p.set_defaults(func=run_eval)
        if name == "probe":
            p.add_argument(
                "settings",
                nargs="*",
                metavar="key=value",
                help="probe settings: augment=true (fresh random crops every epoch, encoder "
                "run on the fly), epochs, batch_size, lr, weight_decay, crop, max_iter",
            )
    ex = sub.add_parser(
        "extract",
        help="pooled clip features (optionally per tube) and labels to .safetensors or .npz",
    )
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument("--data", required=True, help="annotation list")
    ex.add_argument("--data-root", default=FeatureOptions.data_root)
    ex.add_argument("--output", required=True, help=".safetensors or .npz file to write")
    ex.add_argument(
        "--grid", action="store_true", help="also the per-tube features (N, T', H', W', D)"
    )
    feature_arguments(ex)
    ex.set_defaults(func=run_extract)


def feature_arguments(p: argparse.ArgumentParser) -> None:
    """``--num-clips``, ``--num-crops``, ``--workers``, ``--device``: fields of
    ``FeatureOptions``, with its defaults."""
    d = FeatureOptions()
    p.add_argument("--num-clips", type=int, default=d.num_clips)
    p.add_argument("--num-crops", type=int, default=d.num_crops)
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--device", default=d.device, help="auto (CUDA if present), cpu, cuda:N")


def feature_options(args: argparse.Namespace) -> FeatureOptions:
    """The ``FeatureOptions`` the flags give, the device resolved (``--device`` named in
    the error for a CUDA device on a machine without one); progress on stderr."""
    from sigma_video.engine.device import resolve_device

    return FeatureOptions(
        data_root=args.data_root,
        num_clips=args.num_clips,
        num_crops=args.num_crops,
        workers=args.workers,
        device=str(resolve_device(args.device, "--device")),
        cache_dir=getattr(args, "cache_dir", None),
        progress=True,
    )


def run_eval(args: argparse.Namespace) -> None:
    from sigma_video.evaluation.protocol import knn_protocol, probe_protocol, result_line

    options = feature_options(args)
    if args.command == "probe":
        from sigma_video.config import load_config

        result = probe_protocol(
            args.checkpoint,
            args.train,
            args.val,
            load_config(None, args.settings, cls=ProbeSettings),
            options,
            args.output,
            log=lambda line: print(line, file=sys.stderr),
        )
    else:
        result = knn_protocol(args.checkpoint, args.train, args.val, options, output=args.output)
    print(result_line(args.checkpoint, result))


def run_extract(args: argparse.Namespace) -> None:
    from sigma_video.evaluation.protocol import save_features

    options = feature_options(args)
    print(json.dumps(save_features(args.checkpoint, args.data, args.output, options, args.grid)))


def segment_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="unsupervised video object segmentation (DAVIS / YouTube-VOS); last line is JSON "
        "(mIoU in %%)",
    )
    p.add_argument("--checkpoint", required=True, help="run dir, checkpoint, file or random:PRESET")
    p.add_argument(
        "--data",
        "--davis",
        "--ytvos",
        dest="root",
        required=True,
        help="DAVIS-2017 root (ImageSets/2017) or YouTube-VOS root (<split>/JPEGImages)",
    )
    p.add_argument("--split", default="val", help="val (DAVIS; YouTube-VOS: valid) or train")
    p.add_argument("--clusters", default="gt", help="K for the clustering protocol, or 'gt'")
    p.add_argument("--overclusters", type=int, default=SegmentConfig.overclusters)
    lengths = f"default: DAVIS {CLIP_LEN['davis']}, YTVOS {CLIP_LEN['ytvos']}"
    p.add_argument("--clip-len", type=int, default=None, help=lengths)
    p.add_argument("--size", type=int, default=None, help="input size (default: the encoder's)")
    p.add_argument("--output", default=None, help="folder for cluster-map overlays (PNG + GIF)")
    p.add_argument("--max-sequences", type=int, default=None)
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:N")
    p.set_defaults(func=run_segment)


def run_segment(args: argparse.Namespace) -> None:
    from sigma_video.engine.device import resolve_device
    from sigma_video.evaluation.protocol import result_line, segment_protocol

    if args.clusters != "gt" and not args.clusters.isdigit():
        raise ValueError(f"--clusters must be a number or 'gt', got {args.clusters!r}")
    clusters = None if args.clusters == "gt" else int(args.clusters)
    short = args.clip_len is not None and args.clip_len < 2
    if (clusters is not None and clusters < 2) or args.overclusters < 2 or short:
        raise ValueError("--clusters and --overclusters must be >= 2 and --clip-len >= 2")
    settings = SegmentConfig(
        clip_len=args.clip_len, clusters=clusters, overclusters=args.overclusters
    )
    result = segment_protocol(
        args.checkpoint,
        args.root,
        args.split,
        settings,
        args.size,
        args.output,
        args.max_sequences,
        device=str(resolve_device(args.device, "--device")),
    )
    print(result_line(args.checkpoint, result))


def convert_parser(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--num-frames", type=int, default=None, help="clip length it was trained on")
    p.add_argument("--stride", type=int, default=None, help="frame stride it was trained with")
    p.add_argument("--size", type=int, default=None, help="input size it was trained at")
    p.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> None:
    from pathlib import Path

    from sigma_video.data.clip import ClipSpec
    from sigma_video.io.load import load_model, save_converted
    from sigma_video.models.encoder import with_clip

    given = {"num_frames": args.num_frames, "stride": args.stride, "size": args.size}
    given = {k: v for k, v in given.items() if v is not None}
    if any(v < 1 for v in given.values()):
        raise ValueError("--num-frames, --stride and --size must be >= 1")
    if Path(args.input).is_file():  # a reference .pth: its args namespace holds the clip
        from sigma_video.io.official import read_checkpoint, recorded_clip

        recorded = recorded_clip(read_checkpoint(args.input)[1])
        unknown = [k for k in ("num_frames", "stride", "size") if k not in recorded | given]
        if unknown:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in unknown)
            raise ValueError(
                f"{args.input} does not record its clip settings ({', '.join(unknown)}); "
                f"pass {flags} as it was trained (the defaults 16 frames, stride 4, 224 px "
                "would be written silently otherwise)"
            )
    encoder, spec = load_model(args.input, strict=args.strict)
    clip = ClipSpec.of({**spec.as_dict(), **given})
    encoder = with_clip(encoder, clip.num_frames, clip.size)
    if args.to == "hf":
        from sigma_video.io.huggingface import export_videomae

        folder = export_videomae(encoder, args.output, clip.as_dict())
    else:
        folder = save_converted(encoder, clip, args.output)
    c = encoder.config
    summary = {"output": str(folder), "embed_dim": c.embed_dim, "depth": c.depth}
    print(json.dumps({**summary, **clip.as_dict()}))
