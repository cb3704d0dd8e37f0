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


def probe_report(run_dir: str | Path, log: Callable[[str], None] = print) -> list[dict]:
    """Probe motion and appearance labels (embedded dataset) for the run and random init."""
    trained, config = load_encoder(run_dir)
    if config.data.train is not None:
        raise ValueError("the probe report needs the embedded dataset (data.train unset)")
    initial = encoder_for(config, config.run.seed).eval()  # the run's own starting weights
    root = default_dataset()
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
    log("linear probe on frozen features (embedded dataset, val split):")
    log(f"{'encoder':<18} {'motion top-1':>13} {'appearance top-1':>17}")
    for name in ("SIGMA (this run)", "random init"):
        acc = {r["labels"]: r["top1"] for r in rows if r["encoder"] == name}
        log(f"{name:<18} {100 * acc['motion']:>12.1f}% {100 * acc['appearance']:>16.1f}%")
    chance = {
        t: 1 / (max(r.label for r in lists["train"][t]) + 1) for t in ("motion", "appearance")
    }
    log(f"{'chance':<18} {100 * chance['motion']:>12.1f}% {100 * chance['appearance']:>16.1f}%")
    return rows
