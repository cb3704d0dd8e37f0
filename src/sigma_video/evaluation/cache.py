"""Feature extraction with a cache: probes and kNN re-use features of the same
(checkpoint, list, clip settings)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from sigma_video.config import to_dict
from sigma_video.data.annotations import read_records
from sigma_video.evaluation.features import extract_features
from sigma_video.files import save_tensors
from sigma_video.io.load import load_model, random_config
from sigma_video.synth.cache import default_cache_dir

CACHE_VERSION = 2  # bump when extraction changes what it computes


def _stamp(path: str) -> list:
    p = Path(path)
    if not p.exists():
        return [path]
    latest = max((f.stat().st_mtime_ns for f in p.rglob("*") if f.is_file()), default=0)
    return [str(p.resolve()), p.stat().st_mtime_ns, latest]


def features_for(
    checkpoint: str,
    list_path: str,
    data_root: str | None = None,
    num_clips: int = 1,
    num_crops: int = 1,
    cache_dir: str | Path | None = None,
    workers: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """``(features (N, D), labels (N,))`` of a list under a checkpoint, cached on disk.

    The clip settings (frames, stride, size) are the encoder's training settings, with a
    centre crop (or ``num_crops`` spatial crops) and ``num_clips`` uniform clips. The cache
    key is the checkpoint's and the list's file stamps (or the ``random:`` preset's
    settings) and these options, so a hit reads one file and builds no model.
    """
    if checkpoint.startswith("random:"):
        source: object = [checkpoint, to_dict(random_config(checkpoint.split(":", 1)[1]))]
    else:
        source = _stamp(checkpoint)
    key = json.dumps(
        [
            CACHE_VERSION,
            source,
            _stamp(list_path),
            data_root,
            num_clips,
            num_crops,
            torch.device(device).type,  # bf16 on CUDA, float32 on CPU
        ],
        default=str,
    )
    folder = Path(cache_dir) if cache_dir else default_cache_dir() / "features"
    file = folder / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.safetensors"
    if file.exists():
        stored = load_file(str(file))
        return stored["features"], stored["labels"]
    encoder, spec = load_model(checkpoint)
    clip = spec.view()
    records = read_records(list_path, root=data_root)
    features, labels = extract_features(
        encoder,
        records,
        clip,
        num_clips,
        num_crops,
        workers=workers,
        device=device,
        progress=progress,
    )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".tmp{os.getpid()}")
    save_tensors({"features": features.contiguous(), "labels": labels.contiguous()}, tmp)
    os.replace(tmp, file)
    return features, labels


def check_labels(train: Tensor, val: Tensor) -> None:
    """Refuse unlabelled samples and val classes never seen in training."""
    if (train < 0).any() or (val < 0).any():
        raise ValueError("probe and kNN need labelled lists (a 'path label' per line)")
    unseen = sorted(set(val.tolist()) - set(train.tolist()))
    if unseen:
        raise ValueError(f"val labels {unseen[:5]} never occur in train: the lists do not match")
