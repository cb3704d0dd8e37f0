"""The demo's closing table: linear-probe accuracy (both label sets) and video object
segmentation mIoU of the pretrained encoder against the same encoder at its random
initialisation, on the embedded dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from sigma_video.data.annotations import read_list
from sigma_video.data.dataset import ClipConfig
from sigma_video.data.synth import default_dataset
from sigma_video.evaluation.features import extract_features
from sigma_video.evaluation.loading import encoder_for, load_encoder
from sigma_video.evaluation.probe import linear_probe
from sigma_video.evaluation.segmentation import evaluate_segmentation


def probe_report(
    run_dir: str | Path,
    log: Callable[[str], None] = print,
    root: Path | None = None,
    max_sequences: int = 32,
) -> list[dict]:
    """Probe motion and appearance labels and segment the DAVIS-layout val videos of the
    embedded dataset, for the run's encoder and its random initialisation."""
    trained, config = load_encoder(run_dir)
    if config.data.train is not None:
        raise ValueError("the probe report needs the embedded dataset (data.train unset)")
    initial = encoder_for(config, config.run.seed).eval()  # the run's own starting weights
    root = root or default_dataset()
    clip = ClipConfig(
        num_frames=config.data.num_frames,
        stride=config.data.stride,
        size=config.data.size,
        crop="center",
    )
    lists = {
        split: {
            task: read_list(root / f"{split}{suffix}", root=str(root))[0]
            for task, suffix in (("motion", ".csv"), ("appearance", "_appearance.csv"))
        }
        for split in ("train", "val")
    }
    rows = []
    for name, encoder in (("SIGMA (this run)", trained), ("random init", initial)):
        feats = {
            split: extract_features(
                encoder, lists[split]["motion"], clip, workers=config.data.workers
            )[0]
            for split in ("train", "val")
        }
        for task in ("motion", "appearance"):
            labels = {s: torch.tensor([r.label for r in lists[s][task]]) for s in ("train", "val")}
            result = linear_probe(feats["train"], labels["train"], feats["val"], labels["val"])
            rows.append({"encoder": name, "labels": task, **result})
    segmentation = {
        name: evaluate_segmentation(
            encoder, root / "davis", config.data.size, max_sequences=max_sequences
        )
        for name, encoder in (("SIGMA (this run)", trained), ("random init", initial))
    }
    chance = {
        t: 1 / (max(r.label for r in lists["train"][t]) + 1) for t in ("motion", "appearance")
    }
    log("frozen encoders on the embedded dataset's val split: linear-probe top-1, and video")
    log(f"object segmentation mIoU (clustering / over-clustering, first {max_sequences} sequences)")
    log(f"{'encoder':<18} {'motion':>8} {'appearance':>11} {'VOS mIoU':>14}")
    for name in ("SIGMA (this run)", "random init"):
        acc = {r["labels"]: r["top1"] for r in rows if r["encoder"] == name}
        seg = segmentation[name]
        vos = f"{100 * seg['miou_clustering']:.1f} / {100 * seg['miou_overclustering']:.1f}"
        log(f"{name:<18} {100 * acc['motion']:>7.1f}% {100 * acc['appearance']:>10.1f}% {vos:>14}")
    log(f"{'chance':<18} {100 * chance['motion']:>7.1f}% {100 * chance['appearance']:>10.1f}%")
    rows += [{"encoder": n, "labels": "segmentation", **r} for n, r in segmentation.items()]
    return rows
