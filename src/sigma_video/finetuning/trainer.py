"""Full fine-tuning: ``finetune(config)`` -> summary with the multi-view test scores.

The ``FinetuneRecipe`` that ``engine.train`` runs, with the machinery pretraining has
(``engine.loop``: accumulation, precision, non-finite handling, logging, atomic
checkpoints, ``--resume auto``, torchrun); what differs is the
model (encoder + ``fc_norm`` + head), the layer-wise lr decay, mixup/cutmix with label
smoothing (single-label classification; the multi-label and counting heads of
``finetuning.tasks`` train on their own losses), and the evaluation: one centre view per
video every ``run.eval_every`` epochs, ``test_clips × test_crops`` views at the end.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sigma_video.data.annotations import VideoRecord
from sigma_video.data.check import refuse_missing
from sigma_video.data.clip import ClipSpec
from sigma_video.data.dataset import VideoClips
from sigma_video.data.eval_clips import EvalClips
from sigma_video.data.randaugment import RandAugment
from sigma_video.data.subset import label_range_records, subset_records, subset_text
from sigma_video.data.transforms import normalize
from sigma_video.engine.context import Context
from sigma_video.engine.loop import Forward, Loop
from sigma_video.engine.optim import build_optimizer
from sigma_video.engine.train import Built, Steps, train
from sigma_video.finetuning.config import FinetuneConfig, FinetuneOptimConfig
from sigma_video.finetuning.erasing import random_erase
from sigma_video.finetuning.evaluate import evaluate
from sigma_video.finetuning.layer_decay import lr_scale
from sigma_video.finetuning.mixup import MixConfig, mix_batch, soft_cross_entropy
from sigma_video.finetuning.tasks import Task, make_task
from sigma_video.io.load import CLASSIFIER_FILE, load_classifier_meta, load_model
from sigma_video.models.classifier import VideoClassifier, finetuning_encoder
from sigma_video.models.encoder import EncoderConfig, VideoEncoder
from sigma_video.models.header import classifier_metadata
from sigma_video.synth.dataset import default_dataset
from sigma_video.synth.tasks import default_task_dataset
from sigma_video.tubes import token_grid


@dataclasses.dataclass
class Splits:
    train: list[VideoRecord]
    val: list[VideoRecord]
    test: list[VideoRecord]


def embedded_lists(task: str) -> tuple[Path, Path]:
    """The embedded training and validation lists of a task: the generated dataset's motion
    labels (classification), or the generated task videos (``synth.tasks``)."""
    if task == "classification":
        root = default_dataset()
        return root / "train.csv", root / "val.csv"
    root = default_task_dataset()
    kind = "multilabel" if task == "multilabel" else "count"
    return root / f"{kind}_train.csv", root / f"{kind}_val.csv"


def load_splits(config: FinetuneConfig, task: Task, log: Callable[[str], None] = print) -> Splits:
    """Training, validation and test records (the task's embedded lists when ``data.train``
    is unset), the training list cut to ``data.subset`` videos when set; refuses missing
    files beyond ``data.max_bad_fraction``."""
    data = config.data
    if data.train is None:
        train, val = embedded_lists(task.name)
        paths: dict[str, str] = {"train": str(train), "val": str(val), "test": str(val)}
        root = None
    else:
        if data.val is None:
            raise ValueError("data.val is required when data.train is set (--val LIST)")
        paths = {name: getattr(data, name) or data.val for name in ("train", "val", "test")}
        root = data.data_root
    lists: dict[str, list[VideoRecord]] = {}
    read: dict[str, list[VideoRecord]] = {}  # the test list is the val list by default
    for name, path in paths.items():
        if not Path(path).exists():
            raise ValueError(f"data.{name}: list {path} does not exist")
        if path not in read:
            read[path] = task.records(path, root)
            refuse_missing(read[path], path, data.max_bad_fraction, log=log)
        lists[name] = read[path]
    if data.label_range is not None:
        first, last = data.label_range
        lists = {name: label_range_records(x, first, last) for name, x in lists.items()}
    if data.subset is not None:
        lists["train"] = subset_records(lists["train"], data.subset, data.subset_seed)
    return Splits(**lists)


def resolve_clip(config: FinetuneConfig, pretrained: ClipSpec) -> FinetuneConfig:
    """Fill unset clip settings from the pretrained encoder's."""
    data = config.data
    data = dataclasses.replace(
        data,
        num_frames=data.num_frames or pretrained.num_frames,
        stride=data.stride or pretrained.stride,
        size=data.size or pretrained.size,
    )
    return dataclasses.replace(config, data=data)


def starting_encoder(
    config: FinetuneConfig, run_dir: Path, start: Path | None
) -> tuple[FinetuneConfig, VideoEncoder]:
    """The encoder to fine-tune — the pretrained one in the fine-tuning layout, or for a
    resume the run's saved architecture (its weights come from the checkpoint) — and the
    config with the clip settings it was trained on filled in."""
    m = config.model
    if start is not None:  # the pretrained source is no longer needed
        saved = load_classifier_meta(run_dir)
        config = resolve_clip(config, ClipSpec.of(saved["clip"]))
        return config, VideoEncoder(EncoderConfig(**saved["encoder"]))
    if not m.checkpoint.startswith("random:") and not Path(m.checkpoint).exists():
        raise ValueError(
            f"model.checkpoint {m.checkpoint} does not exist; pretrain first "
            "(`sigma-video pretrain` writes runs/demo) or pass --checkpoint random:PRESET"
        )
    pretrained, spec = load_model(m.checkpoint, seed=config.run.seed)
    config = resolve_clip(config, spec)
    torch.manual_seed(config.run.seed)
    return config, finetuning_encoder(pretrained, m.drop_path, m.grad_checkpointing)


def clip_datasets(
    config: FinetuneConfig, splits: Splits
) -> tuple[VideoClips, EvalClips, EvalClips]:
    """Augmented training clips; one centre view per validation video; the multi-view test."""
    data = config.data
    clip = ClipSpec.of(data).view(
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
    options = {"backend": data.backend, "time_limit": data.time_limit, "skip_bad": True}
    val = EvalClips(splits.val, view, 1, 1, **options)
    test = EvalClips(splits.test, view, data.test_clips, data.test_crops, **options)
    return train, val, test


def layer_decay_optimizer(
    model: VideoClassifier, lr: float, optim: FinetuneOptimConfig
) -> torch.optim.Optimizer:
    """AdamW whose encoder layers' lrs decay by ``optim.layer_decay`` per layer from the head."""
    depth = model.encoder.config.depth

    def scale(name: str) -> float:
        inner = name.removeprefix("encoder.")
        return lr_scale(inner, depth, optim.layer_decay) if inner != name else 1.0

    return build_optimizer(model, lr, optim.weight_decay, optim.betas, lr_scale=scale)


def task_forward(loop: Loop, config: FinetuneConfig, task: Task, targets: Tensor) -> Forward:
    """The step's forward for multi-label and counting heads: random erasing, then the
    task's loss against ``targets`` (the training records' target table, looked up by the
    sample actually used); no mixup, a single-label recipe."""
    seed, rank, device = config.run.seed, loop.info.rank, loop.device

    def forward(batch: dict, at: int) -> tuple[Tensor, dict[str, Tensor]]:
        video = normalize(batch["video"].to(device, non_blocking=True))
        views = len(video) // len(batch["index"])
        wanted = targets[batch["index"]].repeat_interleave(views, 0).to(device)
        rng = random.Random(f"{seed}/mix/{rank}/{at}/{int(batch['index'][0])}")
        video = random_erase(video, config.data.reprob, rng)
        loss = task.loss(loop.net(video).float(), wanted)
        return loss, {"loss": loss.detach()}

    return forward


def mixing_forward(loop: Loop, config: FinetuneConfig, num_classes: int) -> Forward:
    """The step's forward: random erasing, then mixup/cutmix with label smoothing, as
    VideoMAE; the draws are a pure function of (seed, rank, step, first sample)."""
    o, seed, rank, device = config.optim, config.run.seed, loop.info.rank, loop.device
    mix = MixConfig(o.mixup, o.cutmix, o.mix_prob, o.switch_prob, o.label_smoothing)

    def forward(batch: dict, at: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        video = normalize(batch["video"].to(device, non_blocking=True))
        labels = batch["label"].to(device, non_blocking=True)
        rng = random.Random(f"{seed}/mix/{rank}/{at}/{int(batch['index'][0])}")
        video = random_erase(video, config.data.reprob, rng)  # as VideoMAE: erase, then mix
        video, targets = mix_batch(video, labels, num_classes, mix, rng)
        loss = soft_cross_entropy(loop.net(video), targets)
        return loss, {"loss": loss.detach()}

    return forward


class FinetuneRecipe:
    """Fine-tuning as an ``engine.train`` recipe: the encoder + head on augmented clips
    (mixup/cutmix for single labels, the task's own loss otherwise), a centre-view
    validation every ``run.eval_every`` epochs and the multi-view test at the end."""

    def resolve(self, config: FinetuneConfig, start: Path | None) -> FinetuneConfig:
        if start is None:  # the clip is filled from the pretrained encoder when it is built
            return config
        saved = load_classifier_meta(Path(config.run.output))  # the clip the run resolved
        return resolve_clip(config, ClipSpec.of(saved["clip"]))

    def build(self, config: FinetuneConfig, context: Context) -> Built:
        task = make_task(config.model.task, config.data.view_pool)
        splits = context.main_rank_first(lambda say: load_splits(config, task, say))
        outputs = task.num_outputs(vars(splits), config.model.num_classes)
        run_dir = Path(config.run.output)
        config, encoder = starting_encoder(config, run_dir, context.start)
        data, m, o = config.data, config.model, config.optim
        token_grid(
            data.num_frames, data.size, data.size, encoder.config.tubelet, encoder.config.patch
        )
        model = VideoClassifier(encoder, outputs, m.head_dropout, m.head_init_scale, task.name)
        self.targets = task.targets(splits.train, outputs)  # (N, ...) per training record
        task.prepare_head(model.head, self.targets)  # a resume overwrites it
        self.model = model.to(context.device)
        self.train, self.val, self.test = clip_datasets(config, splits)
        self.config, self.task, self.outputs, self.history = config, task, outputs, []
        classifier = {
            "encoder": dataclasses.asdict(encoder.config),
            "num_classes": outputs,
            "task": task.name,
            "head_dropout": m.head_dropout,
            "clip": ClipSpec.of(data).as_dict(),
        }
        files: dict[str, Any] = {CLASSIFIER_FILE: classifier}
        if data.subset is not None:
            files[SUBSET_FILE] = subset_text(splits.train)
        if task.name != "classification" and (o.mixup or o.cutmix or o.label_smoothing):
            context.say(
                f"{task.name}: mixup, cutmix and label smoothing are single-label; not applied"
            )
        # VideoMAE scales the fine-tuning lr by videos per step, not by the num_sample views
        return Built(
            config,
            self.model,
            self.train,
            lambda lr: layer_decay_optimizer(model, lr, o),
            files=files,
            metadata=classifier_metadata(classifier),
        )

    def steps(self, loop: Loop) -> Steps:
        config = self.config
        every = config.run.eval_every * loop.plan.steps_per_epoch

        def validate(at: int) -> None:
            if every and at % every == 0 and at < loop.progress.last_step:
                result = self.score(loop, self.val)
                self.history.append({"step": at, **result})
                if loop.logger is not None:
                    scalars = {f"val_{k}": v for k, v in result.items() if k in SCORES}
                    loop.logger.log(at, scalars)

        if self.task.name == "classification":
            forward = mixing_forward(loop, config, self.outputs)
        else:
            forward = task_forward(loop, config, self.task, self.targets)
        return Steps(loop.loader(self.train, config.data.workers), forward, validate)

    def score(self, loop: Loop, dataset: EvalClips) -> dict[str, float]:
        o, data = self.config.optim, self.config.data
        return evaluate(
            self.model, dataset, loop.device, o.batch_size, data.workers, loop.info, self.task
        )

    def results(self, loop: Loop) -> dict[str, Any]:
        data = self.config.data
        self.tested = None if loop.progress.stopped_by is not None else self.score(loop, self.test)
        views = {"clips": data.test_clips, "crops": data.test_crops}
        return {
            "task": self.task.name,
            "num_classes": self.outputs,
            "num_train": len(self.train),
            "val": self.history,
            "test": None if self.tested is None else {**self.tested, **views},
        }

    def done_line(self, summary: dict[str, Any], loop: Loop) -> str:
        tested, data = self.tested, self.config.data
        return (
            f"done: {loop.progress.step} steps in {summary['seconds']:.0f} s; "
            f"loss {summary['loss_first']} -> {summary['loss_last']}; "
            f"test {score_text(tested)} on "
            f"{tested['num']} videos × {data.test_clips} clips × {data.test_crops} crops "
            f"({tested['unreadable']} unreadable, left out); {loop.faults.skips.summary()}"
        )


def finetune(
    config: FinetuneConfig,
    resume: str | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    allow_changes: bool = False,
) -> dict[str, Any]:
    """Fine-tune (or continue fine-tuning) an encoder; returns the summary, whose ``test``
    entry holds the multi-view scores of the task (``top1``/``top5`` %, ``map`` %, or
    ``mae``/``obo``). A resume (``resume``: ``"auto"`` or a checkpoint folder) takes the
    clip settings left unset from the run's own and must otherwise match its config, apart
    from session settings, unless ``allow_changes`` (``engine.resume.resume_config``); a run
    already finished returns its saved summary (``steps_this_session`` 0)."""
    return train(FinetuneRecipe(), config, resume, overwrite, log, allow_changes)


SCORES = ("top1", "top5", "map", "mae", "obo")
SUBSET_FILE = "train_subset.txt"


def score_text(result: dict[str, float]) -> str:
    """``top-1 71.88 % top-5 99.00 %``, ``mAP 45.10 %`` or ``MAE 0.213 OBO 88.5 %``."""
    if "map" in result:
        return f"mAP {result['map']:.2f} %"
    if "mae" in result:
        return f"MAE {result['mae']:.3f} OBO {result['obo']:.1f} %"
    return f"top-1 {result['top1']:.2f} % top-5 {result['top5']:.2f} %"
