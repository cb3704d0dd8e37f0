"""``sigma-video masks``: pictures of the masks of a few clips, per mask kind."""

from __future__ import annotations

import argparse
import json


def masks_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "masks",
        help="write pictures of the masks (tube, mgm, mgmae) on a few clips",
        description="For the first --count videos of --data (default: the embedded dataset's "
        "val videos), one PNG per video and mask kind: the first frame of each time slot, "
        "masked tubes dimmed; with several kinds also one PNG stacking them.",
    )
    p.add_argument("--data", default=None, help="list or folder (default: embedded val videos)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--mask", default="tube,mgm,mgmae", help="comma list of mask kinds")
    p.add_argument("--output", required=True, help="folder for the PNGs")
    p.add_argument("--count", type=int, default=4)
    p.add_argument("--num-frames", type=int, default=16)
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--ratio", type=float, default=0.75)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_masks)


def run_masks(args: argparse.Namespace) -> None:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from sigma_video.data.annotations import read_records
    from sigma_video.data.dataset import ClipConfig, VideoClips
    from sigma_video.mask_picture import mask_strip
    from sigma_video.masks.builder import MaskConfig
    from sigma_video.masks.token_mask import TokenMask
    from sigma_video.synth.dataset import default_dataset

    kinds = [k.strip() for k in args.mask.split(",") if k.strip()]
    if args.count < 1 or args.size % args.patch or args.num_frames % 2:
        raise ValueError("need --count >= 1, --size a multiple of --patch, --num-frames even")
    if args.data is None:
        root = default_dataset()
        records = read_records(root / "val.csv", str(root))
    else:
        records = read_records(args.data, args.data_root)
    records = records[: args.count]
    grid = (args.num_frames // 2, args.size // args.patch, args.size // args.patch)
    clip = ClipConfig(num_frames=args.num_frames, stride=args.stride, size=args.size, crop="center")
    datasets = {
        k: VideoClips(records, clip, seed=args.seed, mask=MaskConfig(grid, k, args.ratio))
        for k in kinds
    }
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(len(records)):
        strips = []
        for kind, data in datasets.items():
            item = data[index]
            mask = TokenMask(visible=item["mask"].visible[:1], masked=item["mask"].masked[:1])
            strip = mask_strip(item["video"][0], mask, grid)
            path = output / f"{index:03d}_{kind}.png"
            Image.fromarray(strip).save(path)
            strips.append(strip)
            written.append(str(path))
        if len(strips) > 1:
            path = output / f"{index:03d}_all.png"
            Image.fromarray(np.concatenate(strips, axis=0)).save(path)
            written.append(str(path))
    print(json.dumps({"output": str(output), "files": len(written), "masks": kinds}))
