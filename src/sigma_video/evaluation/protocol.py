"""The frozen-encoder protocols from a checkpoint and its lists to a result, as
``sigma-video knn | probe | extract | segment`` run them: check the output folder and the
labels first, extract (and cache) the features, score, write ``result.json``.

Each returns its scores as fractions in [0, 1]; ``in_percent`` and ``result_line`` give the
line the commands print and write (scores in percent, 2 decimals). The defaults are
``evaluation.settings``'s.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sigma_video.data.annotations import VideoRecord, read_records
from sigma_video.engine.device import resolve_device
from sigma_video.evaluation.augmented_probe import augmented_probe
from sigma_video.evaluation.cache import check_labels, features_for
from sigma_video.evaluation.features import extract_features
from sigma_video.evaluation.knn import knn_accuracy
from sigma_video.evaluation.probe import linear_probe
from sigma_video.evaluation.segmentation import evaluate_segmentation
from sigma_video.evaluation.settings import (
    KNN_KS,
    KNN_TEMPERATURE,
    FeatureOptions,
    ProbeSettings,
    SegmentConfig,
)
from sigma_video.files import save_tensors
from sigma_video.io.load import load_model

RESULT_FILE = "result.json"
FEATURE_SUFFIXES = (".safetensors", ".npz")


def knn_protocol(
    checkpoint: str,
    train: str,
    val: str,
    options: FeatureOptions | None = None,
    ks: tuple[int, ...] = KNN_KS,
    temperature: float = KNN_TEMPERATURE,
    output: str | Path | None = None,
) -> dict[str, Any]:
    """Weighted kNN (``knn_accuracy``) of the ``val`` list's features against the ``train``
    list's as the bank, both extracted from ``checkpoint`` (a run, a checkpoint, any source
    ``load_model`` reads, or ``random:PRESET``) with ``options`` and cached.

    Returns:
        ``num_train``, ``num_val`` and ``top1_k{k}`` (fractions) for each ``k`` in ``ks``;
        with ``output`` also written to ``output/result.json`` (``result_line``).
    """
    options = _prepared(options or FeatureOptions(), output)
    _labelled(train, val, options.data_root)
    train_x, train_y = _features(checkpoint, train, options)
    val_x, val_y = _features(checkpoint, val, options)
    result = knn_accuracy(train_x, train_y, val_x, val_y, ks, temperature)
    if output:
        write_result(output, result_line(checkpoint, result))
    return result


def probe_protocol(
    checkpoint: str,
    train: str,
    val: str,
    settings: ProbeSettings | None = None,
    options: FeatureOptions | None = None,
    output: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """A linear probe of ``checkpoint``'s frozen features, trained on the ``train`` list and
    scored on the ``val`` list (both labelled; val classes must occur in train).

    ``settings.augment=False``: ``linear_probe`` (L-BFGS) on cached features of both lists;
    ``True``: ``augmented_probe`` on fresh ``settings.crop`` views of the training clips
    every epoch (``log`` gets one line per epoch), scored on the cached val features.

    Returns:
        ``top1``, ``top5`` (fractions), ``num_train``, ``num_val``, ``augment`` (and
        ``epochs`` when augmented); with ``output`` also written to ``output/result.json``.
    """
    settings = settings or ProbeSettings()
    options = _prepared(options or FeatureOptions(), output)
    records = _labelled(train, val, options.data_root)
    if settings.augment:  # training clips are encoded on the fly
        val_x, val_y = _features(checkpoint, val, options)
        encoder, spec = load_model(checkpoint)
        result = augmented_probe(
            encoder,
            records,
            spec.view(crop=settings.crop),
            val_x,
            val_y,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            weight_decay=settings.decay,
            workers=options.workers,
            device=options.device,
            log=log,
        )
    else:
        train_x, train_y = _features(checkpoint, train, options)
        val_x, val_y = _features(checkpoint, val, options)
        result = linear_probe(train_x, train_y, val_x, val_y, settings.decay, settings.max_iter)
    result = {**result, "augment": settings.augment}
    if output:
        write_result(output, result_line(checkpoint, result))
    return result


def save_features(
    checkpoint: str,
    data: str,
    output: str | Path,
    options: FeatureOptions | None = None,
    grid: bool = False,
) -> dict[str, Any]:
    """Write the ``data`` list's pooled features ``features (N, D)``, ``labels (N,)`` and,
    with ``grid``, the per-tube features ``grid (N, T', H', W', D)`` to ``output``
    (``.safetensors`` or ``.npz``), atomically, with each row's video path (npz: ``paths``;
    safetensors: the ``paths`` metadata entry, JSON). The pooled features come through the
    cache; the grid is extracted afresh.

    Returns:
        ``output`` (the file), ``num`` (rows) and each tensor's shape by name.
    """
    output = Path(output)
    if output.suffix not in FEATURE_SUFFIXES:
        raise ValueError(f"output must end in .safetensors or .npz, got {output.name!r}")
    options = _prepared(options or FeatureOptions(), None)
    paths = [r.path for r in read_records(data, options.data_root)]  # row order
    if grid:
        encoder, spec = load_model(checkpoint)
        tensors: tuple[Tensor, ...] = extract_features(
            encoder,
            read_records(data, options.data_root),
            spec.view(),
            options.num_clips,
            options.num_crops,
            workers=options.workers,
            device=options.device,
            grid=True,
            progress=options.progress,
        )
    else:
        tensors = _features(checkpoint, data, options)
    named = dict(zip(("features", "labels", "grid"), tensors, strict=False))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}{output.suffix}")
    if output.suffix == ".npz":
        np.savez(tmp, **{k: v.numpy() for k, v in named.items()}, paths=np.array(paths))
    else:  # the video of each row in the metadata (safetensors holds tensors only)
        contiguous = {k: v.contiguous() for k, v in named.items()}
        save_tensors(contiguous, tmp, metadata={"paths": json.dumps(paths)})
    os.replace(tmp, output)
    shapes = {k: list(v.shape) for k, v in named.items()}
    return {"output": str(output), "num": len(named["features"]), **shapes}


def segment_protocol(
    checkpoint: str,
    root: str | Path,
    split: str = "val",
    settings: SegmentConfig | None = None,
    size: int | None = None,
    overlays: str | Path | None = None,
    max_sequences: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """``evaluate_segmentation`` of ``checkpoint``'s encoder on a DAVIS-2017 or YouTube-VOS
    folder, at ``size`` pixels (None: the size the encoder was trained at), on ``device``
    (``auto``: CUDA when there is one); cluster-map overlays (PNG + GIF) into ``overlays``.

    Returns:
        ``miou_clustering``, ``miou_overclustering`` (fractions), ``clips``, ``sequences``,
        ``sequences_skipped``, ``layout`` and ``per_sequence`` (both mIoUs per sequence).
    """
    if overlays:
        check_writable(overlays)
    target = resolve_device(device, "device")
    encoder, spec = load_model(checkpoint)
    return evaluate_segmentation(
        encoder.to(target),
        root,
        size or spec.size,
        split,
        settings,
        Path(overlays) if overlays else None,
        max_sequences,
    )


def percent(fraction: float) -> float:
    """A score in [0, 1] as the commands print every score: in percent, 2 decimals."""
    return round(100 * fraction, 2)


def in_percent(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with its scores in percent (``percent``): the top-k accuracies
    (``top*``), the mIoUs (``miou_*``) and each sequence's mIoUs (``per_sequence``);
    counts, names and flags as they are, in the same order."""
    out = {}
    for key, value in result.items():
        if key == "per_sequence":
            value = {
                name: {k: percent(v) for k, v in scores.items()} for name, scores in value.items()
            }
        elif key.startswith(("top", "miou_")) and isinstance(value, float):
            value = percent(value)
        out[key] = value
    return out


def result_line(checkpoint: str, result: dict[str, Any]) -> str:
    """The JSON line a command prints last and writes to ``result.json``: the checkpoint,
    then ``in_percent(result)``."""
    return json.dumps({"checkpoint": str(checkpoint), **in_percent(result)})


def write_result(folder: str | Path, line: str) -> Path:
    """``folder/result.json`` holding ``line``, written atomically (temporary name, then
    rename); the folder is created."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{RESULT_FILE}.tmp"
    tmp.write_text(line + "\n")
    return tmp.replace(folder / RESULT_FILE)


def check_writable(folder: str | Path) -> None:
    """Create ``folder`` and check it takes files; a one-line ValueError if not (before any
    feature is extracted, not after)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder) / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write to {folder}: {err.strerror or err}") from None


def _prepared(options: FeatureOptions, output: str | Path | None) -> FeatureOptions:
    """``options`` with ``auto`` resolved to a device, once ``output`` is known writable."""
    if output:
        check_writable(output)
    return dataclasses.replace(options, device=str(resolve_device(options.device, "device")))


def _labelled(train: str, val: str, data_root: str | None) -> list[VideoRecord]:
    """The training list's records, once both lists are known labelled and every val class
    occurs in training (before any feature is extracted)."""
    records = read_records(train, data_root)
    val_labels = [r.label for r in read_records(val, data_root)]
    check_labels(torch.tensor([r.label for r in records]), torch.tensor(val_labels))
    return records


def _features(checkpoint: str, list_path: str, options: FeatureOptions) -> tuple[Tensor, Tensor]:
    """``features_for`` with ``options``: ``(features (N, D), labels (N,))``."""
    return features_for(
        checkpoint,
        list_path,
        options.data_root,
        options.num_clips,
        options.num_crops,
        cache_dir=options.cache_dir,
        workers=options.workers,
        device=options.device,
        progress=options.progress,
    )
