"""The keys of fine-tuning, each changed against the ``demo`` preset on the generated data:
the lists a run reads, the clips it cuts, the inputs and targets of its steps, its
optimizer groups, and (one tiny run) its model and validation."""

import random
import types

import numpy as np
import pytest
import torch
from torch import nn

import sigma_video.engine.loop as loop_module
import sigma_video.evaluation.inference as inference
import sigma_video.finetuning.trainer as trainer
from sigma_video.data.clip import ClipSpec
from sigma_video.data.decode import available_backends
from sigma_video.data.transforms import normalize
from sigma_video.engine.distributed import DistInfo
from sigma_video.finetuning.config import load_finetune_config
from sigma_video.finetuning.tasks import make_task
from sigma_video.finetuning.trainer import (
    clip_datasets,
    finetune,
    layer_decay_optimizer,
    load_splits,
    mixing_forward,
    resolve_clip,
)
from sigma_video.io.load import load_model
from sigma_video.models.classifier import VideoClassifier
from sigma_video.models.encoder import EncoderConfig, VideoEncoder
from tests.finetuning.test_trainer import small

quiet = lambda _: None  # noqa: E731
CLIP = ClipSpec(num_frames=4, stride=2, size=32)  # what the encoder was pretrained on


def config_of(synth_root, *overrides):
    lists = [f"data.train={synth_root / 'train.csv'}", f"data.val={synth_root / 'val.csv'}"]
    return load_finetune_config("demo", [*lists, f"data.data_root={synth_root}", *overrides])


def splits_of(config):
    return load_splits(config, make_task(config.model.task, config.data.view_pool), log=quiet)


def paths(records):
    return [r.path for r in records]


def test_list_keys_choose_the_records(synth_root, tmp_path):
    base = splits_of(config_of(synth_root))
    assert paths(base.test) == paths(base.val) and len(base.train) == 16  # test: val's list
    two = tmp_path / "two.csv"
    two.write_text("videos/val/00001.mp4 1\nvideos/val/00002.mp4 2\n")  # relative paths
    wanted = [f"{synth_root}/videos/val/0000{i}.mp4" for i in (1, 2)]  # under data.data_root
    assert paths(splits_of(config_of(synth_root, f"data.test={two}")).test) == wanted
    val = splits_of(config_of(synth_root, f"data.val={two}"))
    assert paths(val.val) == paths(val.test) == wanted
    assert paths(splits_of(config_of(synth_root, f"data.train={two}")).train) == wanted
    unrooted = splits_of(config_of(synth_root, f"data.test={two}", "data.data_root=none"))
    assert paths(unrooted.test) == [f"{tmp_path}/videos/val/0000{i}.mp4" for i in (1, 2)]


def test_subset_seed_draws_another_subset(synth_root):
    drawn = [
        paths(splits_of(config_of(synth_root, "data.subset=5", f"data.subset_seed={s}")).train)
        for s in (99999, 1)
    ]
    assert len(drawn[0]) == len(drawn[1]) and drawn[0] != drawn[1]


def test_max_bad_fraction_lets_lists_with_missing_files_through(synth_root, tmp_path):
    listing = tmp_path / "train.csv"
    good = [f"{synth_root}/videos/train/{i:05d}.mp4 {i % 6}" for i in range(6)]
    listing.write_text("\n".join(good + [f"gone_{i}.mp4 0" for i in range(11)]) + "\n")
    with pytest.raises(ValueError, match="11 of 17 files"):
        splits_of(config_of(synth_root, f"data.train={listing}"))
    loose = config_of(synth_root, f"data.train={listing}", "data.max_bad_fraction=0.8")
    assert len(splits_of(loose).train) == 17


def span(dataset):
    return int(np.ptp(dataset.frame_indices(dataset.records[0], random.Random(0))))


def boxes(dataset, draws=6):
    return {dataset.plan(dataset.records[0], random.Random(s)).views[0][0] for s in range(draws)}


def flips(dataset, draws=12):
    return {dataset.plan(dataset.records[0], random.Random(s)).views[0][1] for s in range(draws)}


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("data.num_frames=8", lambda train, test: train[0]["video"].shape[2] == 8),
        ("data.stride=3", lambda train, test: span(train) == 3 * 3),
        ("data.size=48", lambda train, test: test[0]["video"].shape[-1] == 48),
        ("data.sampling=segments", lambda train, test: span(train) > 3 * 2),
        ("data.crop=center", lambda train, test: len(boxes(train)) == 1),
        ("data.flip=true", lambda train, test: flips(train) == {False, True}),
        ("data.num_sample=2", lambda train, test: train[0]["video"].shape[0] == 2),
        ("data.randaugment=m9-n2", lambda train, test: train.clip.randaugment.ops == 2),
        ("data.test_clips=1", lambda train, test: test[0]["video"].shape[0] == 1 * 3),
        ("data.test_crops=1", lambda train, test: test[0]["video"].shape[0] == 2 * 1),
        (
            "data.time_limit=7",
            lambda train, test: train.backend.time_limit == test.backend.time_limit == 7,
        ),
    ],
)
def test_clip_keys_shape_the_training_and_test_clips(synth_root, override, check):
    """From the config (clip settings unset: the encoder's 4 frames 2 apart at 32 px) to
    the datasets a run trains and tests on."""
    base = config_of(synth_root)
    splits = splits_of(base)
    train, _, test = clip_datasets(resolve_clip(config_of(synth_root, override), CLIP), splits)
    assert check(train, test)
    train, _, test = clip_datasets(resolve_clip(base, CLIP), splits)
    assert not check(train, test)  # the check tells the two apart


def test_data_backend_names_the_decoder(synth_root):
    config = resolve_clip(config_of(synth_root, "data.backend=torchcodec"), CLIP)
    if "torchcodec" not in available_backends():
        with pytest.raises(ValueError, match="video backend 'torchcodec' is not installed"):
            clip_datasets(config, splits_of(config))
        return
    train, val, test = clip_datasets(config, splits_of(config))  # pragma: no cover
    assert {d.backend.name for d in (train, val, test)} == {"torchcodec"}  # pragma: no cover


class _Logits(nn.Module):
    """A stand-in classifier: fixed logits; records the clips it is given."""

    def __init__(self):
        super().__init__()
        self.inputs = []
        self.logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))

    def forward(self, video):
        self.inputs.append(video)
        return self.logits + 0 * video.mean()


def steps(config, count=8):
    """The step inputs and losses of ``count`` steps of the same batch (ids 0-3)."""
    net = _Logits()
    loop = types.SimpleNamespace(info=DistInfo(), device=torch.device("cpu"), net=net)
    forward = mixing_forward(loop, config, 6)
    video = torch.randint(0, 256, (4, 3, 4, 16, 16), generator=torch.Generator().manual_seed(1))
    batch = {"video": video.to(torch.uint8), "label": torch.arange(4), "index": torch.arange(4)}
    losses = [forward(batch, at)[0].item() for at in range(count)]
    return net.inputs, losses, normalize(batch["video"])


def inputs_differ(changed, base):
    return any(not torch.equal(a, b) for a, b in zip(changed[0], base[0], strict=True))


def pasted_from_the_mirror(result):
    """Every step a CutMix: each value is the clip's own or its mirror's (B-1-i)."""
    inputs, _, plain = result
    return all(((x == plain) | (x == plain.flip(0))).all() for x in inputs)


@pytest.mark.parametrize(
    ("base", "override", "check"),
    [
        ((), "data.reprob=1", inputs_differ),
        ((), "optim.mixup=0.8", inputs_differ),
        ((), "optim.cutmix=1.0", lambda c, b: inputs_differ(c, b) and pasted_from_the_mirror(c)),
        (
            ("optim.mixup=0.8",),
            "optim.mix_prob=0",
            lambda c, b: all(torch.equal(x, c[2]) for x in c[0]),
        ),
        (
            ("optim.mixup=0.8", "optim.cutmix=1.0"),
            "optim.switch_prob=1",
            lambda c, b: pasted_from_the_mirror(c),
        ),
        ((), "optim.label_smoothing=0.1", lambda c, b: c[1] != b[1]),
        (("data.reprob=1",), "run.seed=1", inputs_differ),
    ],
)
def test_mixing_keys_change_the_step_inputs_and_targets(synth_root, base, override, check):
    """Random erasing, mixup/CutMix and label smoothing, from the config to what a step
    feeds the model and the loss it gets (the demo preset has them all off)."""
    before = steps(config_of(synth_root, *base))
    assert check(steps(config_of(synth_root, *base, override)), before)
    assert not check(before, before)  # the check tells the two apart


def param_group_of(optimizer, model, name):
    param = dict(model.named_parameters())[name]
    return next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("optim.layer_decay=0.5", lambda group: group["lr_scale"] == 0.5 ** (2 + 1)),
        ("optim.betas=0.8,0.9", lambda group: group["betas"] == (0.8, 0.9)),
        ("optim.weight_decay=0.1", lambda group: group["weight_decay"] == 0.1),
    ],
)
def test_optimizer_keys_change_the_groups(synth_root, override, check):
    """Layer-wise lr decay from the head: the patch embedding is ``depth + 1`` layers down."""
    encoder = VideoEncoder(
        EncoderConfig(embed_dim=32, depth=2, num_heads=2, num_frames=4, img_size=32)
    )
    model = VideoClassifier(encoder, 6)
    name = "encoder.patch_embed.proj.weight"
    changed = layer_decay_optimizer(model, 1.0, config_of(synth_root, override).optim)
    assert check(param_group_of(changed, model, name))
    base = layer_decay_optimizer(model, 1.0, config_of(synth_root, "optim.layer_decay=0.75").optim)
    assert not check(param_group_of(base, model, name))


def test_model_keys_and_eval_every_in_a_run(synth_root, tmp_path, monkeypatch):
    """Two steps on 4 videos (one step an epoch): the head, the loaders and the validation
    schedule of its settings (the demo's: classes counted, no dropout, a head at × 1, no
    loader workers here, validation after each epoch: at step 1)."""
    heads, workers = [], []

    class Classifier(VideoClassifier):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            heads.append(self.head.weight.detach().clone())

    class Loader(loop_module.DataLoader):
        def __init__(self, *args, num_workers, **kwargs):
            workers.append(num_workers)  # recorded, then run in this process
            super().__init__(*args, **{**kwargs, "num_workers": 0, "timeout": 0})

    monkeypatch.setattr(trainer, "VideoClassifier", Classifier)
    monkeypatch.setattr(loop_module, "DataLoader", Loader)
    monkeypatch.setattr(inference, "DataLoader", Loader)
    four = tmp_path / "four.csv"
    four.write_text("".join((synth_root / "train.csv").read_text().splitlines(True)[:4]))
    changes = [
        "model.num_classes=8",
        "model.head_dropout=0.5",
        "model.head_init_scale=0.001",
        "run.eval_every=0",
        "data.workers=3",
    ]
    tiny = (f"data.train={four}", "data.size=32", "data.test_clips=1", "data.test_crops=1")
    run = tmp_path / "run"
    config = small(synth_root, "random:demo", run, "optim.max_steps=2", *tiny, *changes)
    summary = finetune(config, log=quiet)
    assert summary["num_classes"] == 8 and summary["val"] == []
    assert workers == [3, 3]  # the training loader, then the test's
    assert heads[0].std() < 1e-4  # trunc-normal σ 0.02 × 0.001 (the demo: × 1)
    model, _ = load_model(run, "classifier")
    assert model.head.out_features == 8 and model.dropout.p == 0.5


def test_drop_path_and_grad_checkpointing_reach_the_encoder(synth_root, tmp_path):
    """The demo's: no drop path, no checkpointing."""
    changes = ("model.drop_path=0.3", "model.grad_checkpointing=true")
    config = config_of(synth_root, "model.checkpoint=random:demo", *changes)
    encoder = trainer.starting_encoder(config, tmp_path, None)[1].train()
    assert encoder.config.drop_path == 0.3 and encoder.config.grad_checkpointing
    video = torch.randn(1, 3, 4, 32, 32)
    assert not torch.equal(encoder.forward_pooled(video), encoder.forward_pooled(video))
