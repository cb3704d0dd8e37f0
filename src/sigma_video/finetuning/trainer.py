"""Full fine-tuning: ``finetune(config)`` -> summary with the multi-view test accuracy.

Same machinery as pretraining (``engine.loop``: accumulation, precision, non-finite
handling, logging, atomic checkpoints, ``--resume auto``, torchrun); what differs is the
model (encoder + ``fc_norm`` + head), the layer-wise lr decay, mixup/cutmix with label
smoothing, and the evaluation: one centre view per video every ``run.eval_every`` epochs,
``test_clips × test_crops`` views at the end.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.distributed as dist

from sigma_video.config import save_config
from sigma_video.data.annotations import VideoRecord, read_list, read_records
from sigma_video.data.check import refuse_missing
from sigma_video.data.dataset import ClipConfig, EvalClips, VideoClips
from sigma_video.data.randaugment import RandAugment
from sigma_video.data.synth import default_dataset
from sigma_video.data.transforms import normalize
from sigma_video.engine.loop import make_plan, open_loop
from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.run import prepare_run_dir, resume_point, start_device, write_json
from sigma_video.evaluation.loading import load_encoder
from sigma_video.finetuning.config import FinetuneConfig
from sigma_video.finetuning.erasing import random_erase
from sigma_video.finetuning.evaluate import evaluate
from sigma_video.finetuning.layer_decay import lr_scale
from sigma_video.finetuning.mixup import MixConfig, mix_batch, soft_cross_entropy
from sigma_video.finetuning.model import (
    CLASSIFIER_FILE,
    VideoClassifier,
    finetuning_encoder,
    load_classifier_meta,
)
from sigma_video.models.encoder import EncoderConfig, VideoEncoder
from sigma_video.tubes import token_grid


@dataclasses.dataclass
class Splits:
    train: list[VideoRecord]
    val: list[VideoRecord]
    test: list[VideoRecord]


def load_splits(config: FinetuneConfig, log: Callable[[str], None] = print) -> Splits:
    """Training, validation and test records (the embedded dataset's motion labels when
    ``data.train`` is unset); refuses unlabelled training samples."""
    data = config.data
    if data.train is None:
        root = default_dataset()
        train = read_list(root / "train.csv", root=str(root))[0]
        val = read_list(root / "val.csv", root=str(root))[0]
        return Splits(train, val, val)
    if data.val is None:
        raise ValueError("data.val is required when data.train is set (--val LIST)")
    lists = {}
    read: dict[str, list[VideoRecord]] = {}  # the test list is the val list by default
    for name in ("train", "val", "test"):
        path = getattr(data, name) or data.val
        if not Path(path).exists():
            raise ValueError(f"data.{name}: list {path} does not exist")
        if path not in read:
            read[path] = read_records(path, data.data_root)
            refuse_missing(read[path], path, data.max_bad_fraction, log=log)
        lists[name] = read[path]
    return Splits(**lists)


def count_classes(splits: Splits, num_classes: int | None) -> int:
    """The number of classes (``num_classes`` or max training label + 1), after checking
    that every label is labelled and within range."""
    train = [r.label for r in splits.train]
    if min(train) < 0:
        raise ValueError("fine-tuning needs a labelled training list ('path label' per line)")
    classes = num_classes or max(train) + 1
    for name in ("train", "val", "test"):
        labels = [r.label for r in getattr(splits, name)]
        bad = [x for x in labels if not 0 <= x < classes]
        if bad:
            raise ValueError(
                f"{name} labels {sorted(set(bad))[:5]} are outside 0..{classes - 1}: "
                "the lists do not match (or set model.num_classes)"
            )
    return classes


def resolve_clip(config: FinetuneConfig, encoder_data: Any) -> FinetuneConfig:
    """Fill unset clip settings from the pretrained encoder's."""
    data = config.data
    data = dataclasses.replace(
        data,
        num_frames=data.num_frames or encoder_data.num_frames,
        stride=data.stride or encoder_data.stride,
        size=data.size or encoder_data.size,
    )
    return dataclasses.replace(config, data=data)


def finetune(
    config: FinetuneConfig,
    resume: str | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fine-tune (or continue fine-tuning) an encoder; returns the summary, whose ``test``
    entry holds the multi-view ``top1``/``top5`` (%)."""
    device, info = start_device(config.run)
    splits = load_splits(config, log) if info.is_main else None
    if info.enabled:  # rank 0 may have generated the embedded dataset; then all read it
        dist.barrier()
        splits = splits or load_splits(config)
    assert splits is not None
    num_classes = count_classes(splits, config.model.num_classes)
    run_dir = Path(config.run.output)
    start = resume_point(run_dir, resume)
    m = config.model
    if start is None:
        if not m.checkpoint.startswith("random:") and not Path(m.checkpoint).exists():
            raise ValueError(
                f"model.checkpoint {m.checkpoint} does not exist; pretrain first "
                "(`sigma-video pretrain` writes runs/demo) or pass --checkpoint random:PRESET"
            )
        pretrained, source = load_encoder(m.checkpoint, seed=config.run.seed)
        config = resolve_clip(config, source.data)
        torch.manual_seed(config.run.seed)
        encoder = finetuning_encoder(pretrained, m.drop_path, m.grad_checkpointing)
        del pretrained
    else:  # the architecture is in the run; the pretrained source is no longer needed
        saved = load_classifier_meta(run_dir)
        config = resolve_clip(config, SimpleNamespace(**saved["clip"]))
        encoder = VideoEncoder(EncoderConfig(**saved["encoder"]))
    data = config.data
    token_grid(data.num_frames, data.size, data.size, encoder.config.tubelet, encoder.config.patch)
    model = VideoClassifier(encoder, num_classes, m.head_dropout, m.head_init_scale).to(device)
    clip = ClipConfig(
        num_frames=data.num_frames,
        stride=data.stride,
        size=data.size,
        sampling=data.sampling,
        crop=data.crop,
        flip=data.flip,
        num_sample=data.num_sample,
        randaugment=RandAugment.parse(data.randaugment),
    )
    train = VideoClips(
        splits.train, clip, data.backend, config.run.seed, time_limit=data.time_limit
    )
    view = dataclasses.replace(clip, crop="center", num_sample=1, randaugment=None)
    val = EvalClips(splits.val, view, 1, 1, data.backend, data.time_limit, skip_bad=True)
    test = EvalClips(
        splits.test,
        view,
        data.test_clips,
        data.test_crops,
        data.backend,
        data.time_limit,
        skip_bad=True,
    )
    # VideoMAE scales the fine-tuning lr by videos per step, not by the num_sample views
    plan = make_plan(config.optim, len(train), info.world_size)
    o = config.optim
    depth = encoder.config.depth

    def scale(name: str) -> float:
        inner = name.removeprefix("encoder.")
        return lr_scale(inner, depth, o.layer_decay) if inner != name else 1.0

    optimizer = build_optimizer(model, plan.lr, o.weight_decay, o.betas, lr_scale=scale)
    if info.is_main:
        prepare_run_dir(config, resume, overwrite)
        save_config(config, run_dir / "config.json")
        meta = {
            "encoder": dataclasses.asdict(encoder.config),
            "num_classes": num_classes,
            "head_dropout": m.head_dropout,
            "clip": {"num_frames": data.num_frames, "stride": data.stride, "size": data.size},
        }
        write_json(run_dir / CLASSIFIER_FILE, meta)

    loop = open_loop(
        model,
        optimizer,
        plan,
        device,
        info,
        o,
        config.run,
        len(train),
        data.max_bad_fraction,
        start,
        log,
    )
    net, last_step, logger = loop.net, loop.last_step, loop.logger
    mix = MixConfig(o.mixup, o.cutmix, o.mix_prob, o.switch_prob, o.label_smoothing)
    seed = config.run.seed

    def forward(batch: dict, at: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        video = normalize(batch["video"].to(device, non_blocking=True))
        labels = batch["label"].to(device, non_blocking=True)
        first = int(batch["index"][0])  # the mixing draw is a pure function of the batch
        rng = random.Random(f"{seed}/mix/{info.rank}/{at}/{first}")
        video = random_erase(video, data.reprob, rng)  # as VideoMAE: erase, then mix
        video, targets = mix_batch(video, labels, num_classes, mix, rng)
        loss = soft_cross_entropy(net(video), targets)
        return loss, {"loss": loss.detach()}

    every = config.run.eval_every * plan.steps_per_epoch
    batch_size, workers = o.batch_size, data.workers
    history: list[dict[str, float]] = []

    def after_step(at: int) -> None:
        if every and at % every == 0 and at < last_step:
            result = evaluate(model, val, device, batch_size, workers, info)
            history.append({"step": at, **result})
            if logger is not None:
                logger.log(at, {"val_top1": result["top1"], "val_top5": result["top5"]})

    try:
        loop.run(loop.loader(train, workers), forward, after_step)
        stopped = loop.stopped_by is not None
        tested = None if stopped else evaluate(model, test, device, batch_size, workers, info)
    finally:
        loop.close()
    views = {"clips": data.test_clips, "crops": data.test_crops}
    summary = loop.finish(
        num_classes=num_classes, val=history, test=None if stopped else {**tested, **views}
    )
    if info.is_main and stopped:
        log(loop.stopped_line())
    elif info.is_main:
        log(
            f"done: {loop.step} steps in {summary['seconds']:.0f} s; "
            f"loss {summary['loss_first']} -> {summary['loss_last']}; "
            f"test top-1 {tested['top1']:.2f} % top-5 {tested['top5']:.2f} % on "
            f"{tested['num']} videos × {data.test_clips} clips × {data.test_crops} crops "
            f"({tested['unreadable']} unreadable, left out); {loop.skips.summary()}"
        )
    return summary
