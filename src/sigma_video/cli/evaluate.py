"""``sigma-video probe | knn | extract | segment | convert``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from sigma_video.models.encoder import VideoEncoder


def eval_parsers(sub: argparse._SubParsersAction) -> None:
    for name, text in (
        ("probe", "linear probe on frozen, cached features; last line is JSON (top1/top5 in %%)"),
        (
            "knn",
            "weighted kNN (k = 20, 200; T = 0.07) on frozen features; last line is JSON "
            "(top1_k20, top1_k200 in %%)",
        ),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--checkpoint", required=True, help="run dir, checkpoint, or random:PRESET")
        p.add_argument("--train", required=True, help="training list (the kNN bank)")
        p.add_argument("--val", required=True, help="validation list")
        p.add_argument("--data-root", default=None)
        p.add_argument("--num-clips", type=int, default=1)
        p.add_argument("--num-crops", type=int, default=1)
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:N")
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
    ex.add_argument("--data-root", default=None)
    ex.add_argument("--output", required=True, help=".safetensors or .npz file to write")
    ex.add_argument(
        "--grid", action="store_true", help="also the per-tube features (N, T', H', W', D)"
    )
    ex.add_argument("--num-clips", type=int, default=1)
    ex.add_argument("--num-crops", type=int, default=1)
    ex.add_argument("--workers", type=int, default=2)
    ex.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:N")
    ex.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> None:
    import torch

    from sigma_video.data.annotations import read_records
    from sigma_video.engine.device import resolve_device
    from sigma_video.evaluation.cache import check_labels, features_for

    args.device = str(resolve_device(args.device, "--device"))
    common = {
        "data_root": args.data_root,
        "num_clips": args.num_clips,
        "num_crops": args.num_crops,
        "workers": args.workers,
        "device": args.device,
    }
    if args.command == "extract":
        run_extract(args, common)
        return
    if args.output:  # fail now, not after the features and the probe
        _writable(args.output)
    cache = {"cache_dir": args.cache_dir, "progress": True}
    settings = None
    if args.command == "probe":
        from sigma_video.config import load_config

        settings = load_config(None, args.settings, cls=ProbeSettings)
    records = read_records(args.train, args.data_root)
    val_labels = [r.label for r in read_records(args.val, args.data_root)]
    check_labels(torch.tensor([r.label for r in records]), torch.tensor(val_labels))  # first
    if settings is not None and settings.augment:  # training clips are encoded on the fly
        val_x, val_y = features_for(args.checkpoint, args.val, **common, **cache)
        result = _augmented_probe(args, settings, records, val_x, val_y)
        _report(args, result)
        return
    train_x, train_y = features_for(args.checkpoint, args.train, **common, **cache)
    val_x, val_y = features_for(args.checkpoint, args.val, **common, **cache)
    if settings is not None:
        from sigma_video.evaluation.probe import linear_probe

        wd = 1e-4 if settings.weight_decay is None else settings.weight_decay
        result = linear_probe(train_x, train_y, val_x, val_y, wd, settings.max_iter)
        result = {**result, "augment": False}
    else:
        from sigma_video.evaluation.knn import knn_scores
        from sigma_video.evaluation.metrics import topk_accuracy

        classes = int(max(train_y.max(), val_y.max())) + 1
        result = {"num_train": len(train_x), "num_val": len(val_x)}
        for k in (20, 200):
            scores = knn_scores(train_x, train_y, val_x, k=k, temperature=0.07, num_classes=classes)
            result[f"top1_k{k}"] = topk_accuracy(scores, val_y, 1)
    _report(args, result)


def percent(fraction: float) -> float:
    """A score in [0, 1] as the commands print every score: in percent, 2 decimals."""
    return round(100 * fraction, 2)


def _report(args: argparse.Namespace, result: dict) -> None:
    """Print the result as the last JSON line (and write ``--output/result.json``); top-k
    accuracies in percent, as ``finetune``, ``test`` and ``segment`` print their scores."""
    scores = {
        k: percent(v) if k.startswith("top") and isinstance(v, float) else v
        for k, v in result.items()
    }
    line = json.dumps({"checkpoint": args.checkpoint, **scores})
    if args.output:
        from pathlib import Path

        folder = Path(args.output)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.json.tmp").write_text(line + "\n")
        (folder / "result.json.tmp").replace(folder / "result.json")
    print(line)


def _writable(folder: str) -> None:
    """Create ``folder`` and check it takes files; a one-line ValueError if not."""
    from pathlib import Path

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder) / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write to {folder}: {err.strerror or err}") from None


def run_extract(args: argparse.Namespace, common: dict) -> None:
    """Pooled features (+ the tube grid), labels and the video paths (npz: ``paths``;
    safetensors: the ``paths`` metadata entry, JSON) to .safetensors or .npz, atomically."""
    import os
    from pathlib import Path

    import numpy as np

    from sigma_video.files import save_tensors

    output = Path(args.output)
    if output.suffix not in (".safetensors", ".npz"):
        raise ValueError(f"--output must end in .safetensors or .npz, got {output.name!r}")
    from sigma_video.data.annotations import read_records

    paths = [r.path for r in read_records(args.data, args.data_root)]  # row order
    if args.grid:
        from sigma_video.evaluation.features import extract_features
        from sigma_video.io.load import load_model

        encoder, spec = load_model(args.checkpoint)
        clip = spec.view()
        records = read_records(args.data, common.pop("data_root"))
        tensors = extract_features(encoder, records, clip, **common, grid=True, progress=True)
    else:
        from sigma_video.evaluation.cache import features_for

        tensors = features_for(args.checkpoint, args.data, **common, progress=True)
    named = dict(zip(("features", "labels", "grid"), tensors, strict=False))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}{output.suffix}")
    if output.suffix == ".npz":
        np.savez(tmp, **{k: v.numpy() for k, v in named.items()}, paths=np.array(paths))
    else:  # the video of each row in the metadata (safetensors holds tensors only)
        tensors = {k: v.contiguous() for k, v in named.items()}
        save_tensors(tensors, tmp, metadata={"paths": json.dumps(paths)})
    os.replace(tmp, output)
    shapes = {k: list(v.shape) for k, v in named.items()}
    print(json.dumps({"output": str(output), "num": len(named["features"]), **shapes}))


@dataclass
class ProbeSettings:
    """``augment=false``: L-BFGS on cached centre-view features (``weight_decay`` default
    1e-4, ``max_iter``); ``augment=true``: BatchNorm + linear trained with AdamW on fresh
    ``crop`` views every epoch (``epochs``, ``batch_size``, ``lr``, ``weight_decay`` default 0)."""

    augment: bool = False
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float | None = None
    crop: str = "random_resized"
    max_iter: int = 100

    def __post_init__(self) -> None:
        from sigma_video.data.dataset import CROPS

        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")


def _augmented_probe(
    args: argparse.Namespace,
    settings: ProbeSettings,
    records: list,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
) -> dict:
    from sigma_video.evaluation.augmented_probe import augmented_probe
    from sigma_video.io.load import load_model

    encoder, spec = load_model(args.checkpoint)
    clip = spec.view(crop=settings.crop)
    result = augmented_probe(
        encoder,
        records,
        clip,
        val_x,
        val_y,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        weight_decay=settings.weight_decay or 0.0,
        workers=args.workers,
        device=args.device,
        log=lambda line: print(line, file=sys.stderr),
    )
    return {**result, "augment": True}


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
    p.add_argument("--overclusters", type=int, default=10)
    p.add_argument("--clip-len", type=int, default=None, help="default: DAVIS 16, YTVOS 4")
    p.add_argument("--size", type=int, default=None, help="input size (default: the encoder's)")
    p.add_argument("--output", default=None, help="folder for cluster-map overlays (PNG + GIF)")
    p.add_argument("--max-sequences", type=int, default=None)
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:N")
    p.set_defaults(func=run_segment)


def run_segment(args: argparse.Namespace) -> None:
    from pathlib import Path

    from sigma_video.engine.device import resolve_device
    from sigma_video.evaluation.segmentation import SegmentConfig, evaluate_segmentation
    from sigma_video.io.load import load_model

    if args.clusters != "gt" and not args.clusters.isdigit():
        raise ValueError(f"--clusters must be a number or 'gt', got {args.clusters!r}")
    clusters = None if args.clusters == "gt" else int(args.clusters)
    short = args.clip_len is not None and args.clip_len < 2
    if (clusters is not None and clusters < 2) or args.overclusters < 2 or short:
        raise ValueError("--clusters and --overclusters must be >= 2 and --clip-len >= 2")
    if args.output:
        _writable(args.output)
    device = resolve_device(args.device, "--device")
    encoder, spec = load_model(args.checkpoint)
    encoder = encoder.to(device)
    settings = SegmentConfig(
        clip_len=args.clip_len, clusters=clusters, overclusters=args.overclusters
    )
    result = evaluate_segmentation(
        encoder,
        args.root,
        args.size or spec.size,
        args.split,
        settings,
        Path(args.output) if args.output else None,
        args.max_sequences,
    )
    miou = {k: percent(v) for k, v in result.items() if k.startswith("miou_")}
    per_sequence = {
        name: {k: percent(v) for k, v in scores.items()}
        for name, scores in result["per_sequence"].items()
    }
    print(
        json.dumps({"checkpoint": args.checkpoint, **result, **miou, "per_sequence": per_sequence})
    )


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


def with_clip(encoder: VideoEncoder, num_frames: int, size: int) -> VideoEncoder:
    """The encoder for another default clip: its fixed sinusoid table is rebuilt; a learned
    table cannot follow, so a change is refused."""
    import dataclasses

    from sigma_video.models.encoder import VideoEncoder

    c = encoder.config
    if (c.num_frames, c.img_size) == (num_frames, size):
        return encoder
    if c.learned_pos:
        raise ValueError("this encoder has a learned position table: its clip size is fixed")
    rebuilt = VideoEncoder(dataclasses.replace(c, num_frames=num_frames, img_size=size))
    rebuilt.load_state_dict(encoder.state_dict())
    return rebuilt.eval()


def run_convert(args: argparse.Namespace) -> None:
    from pathlib import Path

    from sigma_video.data.clip import ClipSpec
    from sigma_video.io.load import load_model, save_converted

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
