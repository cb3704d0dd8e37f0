"""What running the frozen DINO φ under the step's bf16 autocast changes, one JSON line.

    python benchmarks/dino_precision.py [--device cuda] [--arch dino_vitb16] [--weights F]

The official code computes its DINO features before the autocast block (float32); ours
does the same by default (``model.target.dino_precision="fp32"``). This measures the alternative
on the same clips: the relative difference of the φ targets and the share of φ-branch hard
labels (argmax of the Sinkhorn codes against K = 3000 unit prototypes) that change, and the
time of both. Random DINO weights unless ``--weights`` (the official ``.pth``).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from sigma_video.losses.sigma import prototype_scores
from sigma_video.losses.sinkhorn import sinkhorn_knopp
from sigma_video.masks.tube import tube_mask
from sigma_video.models.dino import DINO_PRESETS, ImageViT, TubeFeatures, load_image_vit
from sigma_video.models.projection import FrozenFeatures


def timed(fn, device: torch.device) -> tuple[torch.Tensor, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="dino_vitb16", choices=sorted(DINO_PRESETS))
    parser.add_argument("--weights", default=None)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--prototypes", type=int, default=3000)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.weights:
        image_model = load_image_vit(args.weights, args.arch)
    else:
        image_model = ImageViT(DINO_PRESETS[args.arch])
    extractor = TubeFeatures(image_model, tubelet=2, frames="first", patch=16)
    width = image_model.config.embed_dim
    phi = {p: FrozenFeatures(extractor, width, precision=p).to(device) for p in ("fp32", "bf16")}
    video = torch.randn(args.batch_size, 3, 16, 224, 224, device=device)
    masked = tube_mask(args.batch_size, (8, 14, 14), 0.9, device=device).masked
    prototypes = F.normalize(torch.randn(args.prototypes, width, device=device), dim=1)
    results, labels = {}, {}
    for name, target in phi.items():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            target(video, masked)  # warm-up
            features, seconds = timed(lambda t=target: t(video, masked), device)
        results[name] = features.float()
        codes = sinkhorn_knopp(prototype_scores(results[name].flatten(0, 1), prototypes))
        labels[name] = codes.argmax(1)
        results[f"{name}_s"] = seconds
    difference = (results["bf16"] - results["fp32"]).norm() / results["fp32"].norm()
    flipped = (labels["bf16"] != labels["fp32"]).float().mean()
    line = {
        "bench": "dino_precision",
        "device": str(device),
        "arch": args.arch,
        "weights": args.weights or "random",
        "masked_tubes": int(masked.numel()),
        "relative_target_difference": round(float(difference), 5),
        "hard_labels_changed_pct": round(100 * float(flipped), 2),
        "fp32_s": round(results["fp32_s"], 4),
        "bf16_s": round(results["bf16_s"], 4),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
