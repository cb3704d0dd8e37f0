"""Pretraining: ``pretrain(config)`` -> summary, the ``PretrainRecipe`` that
``engine.train`` runs. Thin by design: the model, data and math live elsewhere; this file
wires them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sigma_video.data.annotations import VideoRecord, read_list, read_records
from sigma_video.data.check import refuse_missing
from sigma_video.data.clip import ClipSpec
from sigma_video.data.dataset import VideoClips
from sigma_video.data.decode import get_backend
from sigma_video.data.mix import MixedRecords
from sigma_video.data.step_decode import StepDecoder, decoded_in_step
from sigma_video.data.transforms import normalize
from sigma_video.engine.context import Context
from sigma_video.engine.loop import Loop, TrainingError
from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.parallel import is_sharded
from sigma_video.engine.train import Built, Steps, train
from sigma_video.flow.sources import check_flow_source
from sigma_video.masks.builder import MaskConfig, build_device_masks
from sigma_video.models.config import target_freeze_steps
from sigma_video.models.header import pretrainer_metadata
from sigma_video.pretrainer import build_pretrainer
from sigma_video.pretraining.collapse import CollapseMonitor
from sigma_video.pretraining.config import PretrainConfig
from sigma_video.pretraining.init import load_init
from sigma_video.synth.dataset import default_dataset
from sigma_video.tubes import token_grid

__all__ = ["PretrainRecipe", "TrainingError", "load_records", "pretrain"]


def load_records(
    config: PretrainConfig, log: Callable[[str], None] = print
) -> Sequence[VideoRecord]:
    """The training records (of ``data.train``, or of ``data.sources`` mixed by weight); a
    source with more missing files than the run may skip stops here, before any training
    (``data.check.refuse_missing``)."""
    data = config.data
    if data.sources:
        parts = [checked_records(s.path, config, log) for s in data.sources]
        mixed = MixedRecords(
            parts, [s.weight for s in data.sources], config.run.seed, [s.path for s in data.sources]
        )
        for name, row in mixed.summary().items():
            log(
                f"source {name}: {row['videos']} videos, weight {row['weight']:g}, "
                f"{row['per_epoch']} samples an epoch ({row['passes_per_epoch']:g} passes)"
            )
        return mixed
    if data.train is None:
        root = default_dataset(log=log)
        return read_list(root / "train.csv", root=str(root))[0]
    return checked_records(data.train, config, log)


def checked_records(
    source: str, config: PretrainConfig, log: Callable[[str], None]
) -> Sequence[VideoRecord]:
    records = read_records(source, config.data.data_root)
    refuse_missing(records, source, config.data.max_bad_fraction, log=log)
    return records


def collapse_monitor(model: nn.Module, mask: MaskConfig, clips_per_batch: int) -> CollapseMonitor:
    """The monitor for a pretrainer's logged diagnostics (φ's width D, K, predicted tubes)."""
    objective = model.objective
    prototypes = getattr(objective, "prototypes", None)
    return CollapseMonitor(
        model.target.out_dim,
        prototypes.num_prototypes if prototypes is not None else None,
        mask.num_predicted * clips_per_batch,
    )


class PretrainRecipe:
    """Pretraining as an ``engine.train`` recipe: SIGMA's pretrainer (or VideoMAE's) on
    masked clips, the collapse monitor watching its logged diagnostics."""

    def resolve(self, config: PretrainConfig, start: Path | None) -> PretrainConfig:
        return config.resolved()

    def build(self, config: PretrainConfig, context: Context) -> Built:
        if config.mask.kind == "mgmae":  # RAFT weights or OpenCV missing: say so first
            check_flow_source(config.mask.flow)
        records = context.main_rank_first(lambda say: load_records(config, say))
        torch.manual_seed(config.run.seed)
        model = build_pretrainer(config.model)
        if config.run.init is not None and context.start is None:
            ignored = load_init(model, config.run.init)
            context.say(
                f"initialised from {config.run.init} ({len(ignored)} of its tensors unused)"
            )
        self.config, self.device = config, context.device
        self.model = model.to(context.device)
        self.dataset = training_clips(config, records, self.model)
        return Built(
            config,
            self.model,
            self.dataset,
            lambda lr: build_optimizer(model, lr, config.optim.weight_decay, config.optim.betas),
            views=config.data.num_sample,
            metadata=pretrainer_metadata(
                self.model.encoder.config, ClipSpec.of(config.data).as_dict()
            ),
        )

    def steps(self, loop: Loop) -> Steps:
        config, device, dataset = self.config, self.device, self.dataset
        self.model.freeze_target_steps = target_freeze_steps(
            config.model, loop.plan.steps_per_epoch
        )
        clips = config.optim.batch_size * loop.info.world_size
        loop.monitor = collapse_monitor(self.model, dataset.mask, clips)
        device_masks = build_device_masks(dataset.mask, device)  # None: the loader's masks
        sharded = is_sharded(self.model)

        def forward(batch: dict, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            raw = batch["video"].to(device, non_blocking=True)
            if device_masks is not None:  # MGMAE with RAFT: the masks need the device's flow
                mask = device_masks(raw, batch["mask_seed"])
            else:
                mask = batch["mask"].to(device, non_blocking=True)
            if sharded:
                self.model.before_sharded_forward()
            return loop.net(normalize(raw), mask)

        batches = loop.loader(dataset, config.data.workers)
        if config.data.decode_in == "step":  # the workers planned the clips: decode them here
            backend = get_backend(config.data.backend, config.data.time_limit, device)
            batches = decoded_in_step(batches, StepDecoder(backend, device))
        return Steps(batches, forward)

    def results(self, loop: Loop) -> dict[str, Any]:
        records = self.dataset.records
        return {"sources": records.summary()} if isinstance(records, MixedRecords) else {}

    def done_line(self, summary: dict[str, Any], loop: Loop) -> str:
        faults = loop.faults
        return (
            f"done: {loop.progress.step} steps ({summary['steps_this_session']} this session) in "
            f"{summary['seconds']:.0f} s, {summary['clips_per_s']} clips/s; "
            f"loss {summary['loss_first']} -> {summary['loss_last']}; "
            f"{faults.nonfinite_total} non-finite step(s) skipped; {faults.skips.summary()}; "
            f"checkpoint {summary['checkpoint']}"
        )


def training_clips(
    config: PretrainConfig, records: Sequence[VideoRecord], model: nn.Module
) -> VideoClips:
    """The masked training clips of ``records`` for the encoder of ``model``."""
    enc = model.encoder.config
    grid = token_grid(
        config.data.num_frames, config.data.size, config.data.size, enc.tubelet, enc.patch
    )
    clip = ClipSpec.of(config.data).view(crop=config.data.crop, num_sample=config.data.num_sample)
    return VideoClips(
        records,
        clip,
        backend=config.data.backend,
        seed=config.run.seed,
        time_limit=config.data.time_limit,
        mask=config.mask.on(grid),
        decode_in=config.data.decode_in,
    )


def pretrain(
    config: PretrainConfig,
    resume: str | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    allow_changes: bool = False,
) -> dict[str, Any]:
    """Run (or continue) a pretraining run; returns the end-of-run summary
    (``engine.train.train``: resume, refused changes, a finished run)."""
    return train(PretrainRecipe(), config, resume, overwrite, log, allow_changes)
