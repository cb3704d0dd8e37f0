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
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from sigma_video.config import save_config
from sigma_video.data.annotations import VideoRecord, read_list, read_records
from sigma_video.data.dataset import ClipConfig, EvalClips, SkipCounter, VideoClips
from sigma_video.data.randaugment import RandAugment
from sigma_video.data.synth import default_dataset
from sigma_video.data.transforms import normalize
from sigma_video.engine.checkpoint import list_checkpoints
from sigma_video.engine.distributed import init_distributed
from sigma_video.engine.logger import RunLogger
from sigma_video.engine.loop import Loop, make_plan
from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.run import (
    prepare_run_dir,
    ranks_in_sync,
    resolve_device,
    restore,
    resume_point,
    seed_ranks,
    set_tf32,
    write_json,
)
from sigma_video.engine.sampler import RunSampler
from sigma_video.engine.trainer import AUTOCAST, make_loader, resolve_precision
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


def load_splits(config: FinetuneConfig) -> Splits:
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
    for name in ("train", "val", "test"):
        path = getattr(data, name) or data.val
        if not Path(path).exists():
            raise ValueError(f"data.{name}: list {path} does not exist")
        lists[name] = read_records(path, data.data_root)
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
    device = resolve_device(config.run.device)
    info = init_distributed(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    set_tf32(device, config.run.tf32)
    splits = load_splits(config) if info.is_main else None
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
    precision = resolve_precision(config.run.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
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

    step, nonfinite = 0, 0
    if start is not None:
        step, nonfinite = restore(start, model, optimizer, scaler)
        if info.is_main:
            log(f"resuming from {start} (step {step})")
    seed_ranks(config.run.seed, info, step)  # drop path differs between ranks
    net: nn.Module = torch.compile(model) if config.run.compile else model
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
    last_step = plan.total_steps if o.max_steps is None else min(plan.total_steps, o.max_steps)
    logger = (
        RunLogger(run_dir, last_step, step, config.run.tensorboard, config.run.progress)
        if info.is_main
        else None
    )
    skips = SkipCounter(len(train), data.max_bad_fraction)
    loop = Loop(
        model=model,
        net=net,
        optimizer=optimizer,
        scaler=scaler,
        device=device,
        info=info,
        optim=o,
        run_config=config.run,
        plan=plan,
        run_dir=run_dir,
        last_step=last_step,
        skips=skips,
        autocast_dtype=AUTOCAST.get(precision),
        logger=logger,
        step=step,
        nonfinite_total=nonfinite,
    )
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

    started = time.perf_counter()
    try:
        sampler = RunSampler(
            len(train),
            o.batch_size,
            seed,
            plan.micro_batches_per_epoch,
            o.epochs,
            info.rank,
            info.world_size,
            start=step * o.accum_steps,
        )
        loop.run(make_loader(train, sampler, o.batch_size, workers, device), forward, after_step)
        tested = evaluate(model, test, device, batch_size, workers, info)
    finally:
        if logger is not None:
            logger.close()
    elapsed = time.perf_counter() - started
    summary = {
        "run_dir": str(run_dir),
        "steps": loop.step,
        "seconds": round(elapsed, 1),
        "global_batch": plan.global_batch,
        "num_classes": num_classes,
        "loss_first": loop.losses[0] if loop.losses else None,
        "loss_last": loop.losses[-1] if loop.losses else None,
        "val": history,
        "test": {**tested, "clips": data.test_clips, "crops": data.test_crops},
        "nonfinite_steps_skipped": loop.nonfinite_total,
        "bad_files_skipped": len(skips.bad),
        "world_size": info.world_size,
        "ranks_in_sync": ranks_in_sync(model, info),
        "checkpoint": None,
    }
    if info.is_main:
        saved = list_checkpoints(run_dir)
        summary["checkpoint"] = str(saved[-1]) if saved else None
        write_json(run_dir / "summary.json", summary)
        log(
            f"done: {loop.step} steps in {elapsed:.0f} s; loss {summary['loss_first']} -> "
            f"{summary['loss_last']}; test top-1 {tested['top1']:.2f} % top-5 "
            f"{tested['top5']:.2f} % on {tested['num']} videos × {data.test_clips} clips × "
            f"{data.test_crops} crops ({tested['unreadable']} unreadable, left out); "
            f"{skips.summary()}"
        )
    return summary
