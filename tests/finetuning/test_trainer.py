"""End-to-end fine-tuning of the tiny model on real (generated) mp4 files."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from sigma_video.cli import main
from sigma_video.config import save_config
from sigma_video.engine.checkpoint import list_checkpoints
from sigma_video.finetuning.config import load_finetune_config
from sigma_video.finetuning.trainer import finetune
from sigma_video.io import load_model
from sigma_video.pretraining.trainer import pretrain
from tests.pretraining.test_trainer import assert_same_weights, final_weights, losses, tiny

quiet = lambda _: None  # noqa: E731


@pytest.fixture(scope="module")
def pretrained(synth_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("pre") / "run"
    pretrain(tiny(synth_root, run, "optim.max_steps=2"), log=quiet)
    return run


def small(synth_root, checkpoint, output, *extra):
    return load_finetune_config(
        "demo",
        [
            f"model.checkpoint={checkpoint}",
            f"data.train={synth_root / 'train.csv'}",
            f"data.val={synth_root / 'val.csv'}",
            f"data.data_root={synth_root}",
            "data.workers=0",
            "data.test_clips=2",
            "data.test_crops=3",
            "optim.batch_size=4",  # 16 videos: 4 steps per epoch
            "optim.epochs=3",
            "optim.warmup_epochs=1",
            "run.log_every=1",
            "run.save_every=2",
            "run.keep_last=10",
            "run.tensorboard=false",
            "run.progress=false",
            f"run.output={output}",
            *extra,
        ],
    )


def test_finetune_trains_validates_tests_and_reloads(synth_root, pretrained, tmp_path):
    run = tmp_path / "ft"
    summary = finetune(small(synth_root, pretrained, run, "optim.max_steps=8"), log=quiet)
    assert summary["steps"] == 8 and summary["ranks_in_sync"]
    assert summary["num_classes"] == 6  # the synthetic motion classes seen in training
    test = summary["test"]
    assert test["num"] == 8 and (test["clips"], test["crops"]) == (2, 3)
    assert 0 <= test["top1"] <= test["top5"] <= 100
    assert [v["step"] for v in summary["val"]] == [4]  # end of epoch 1; the last is the test
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["num_frames"] == 4 and config["data"]["size"] == 32  # from the encoder
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val_top1" in r for r in rows) and rows[-1]["step"] == 8
    assert rows[0]["lr"] < rows[3]["lr"]  # warming up

    # the fine-tuned run reloads: as an encoder (fc_norm layout) and as a classifier
    encoder, clip = load_model(run)
    assert encoder.config.pooled_norm and clip.size == 32
    model, _ = load_model(run, "classifier")
    weights = final_weights(run)
    # a checkpoint's model.safetensors stands for its folder (not a reference file)
    same, clip_of_file = load_model(list_checkpoints(run)[-1] / "model.safetensors", "classifier")
    assert clip_of_file.size == 32 and torch.equal(same.head.weight, model.head.weight)
    # ... and, copied away from its run, it still says what it holds (its header)
    shutil.copy(list_checkpoints(run)[-1] / "model.safetensors", tmp_path / "model.safetensors")
    lone, lone_clip = load_model(tmp_path / "model.safetensors", "classifier")
    assert lone_clip == clip_of_file and lone.task == model.task
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in lone.state_dict().items())
    assert torch.equal(model.head.weight, weights["head.weight"])
    assert torch.equal(encoder.blocks[0].mlp.fc1.weight, weights["encoder.blocks.0.mlp.fc1.weight"])
    # pretrained blocks were the starting point, not a fresh init
    pre, _ = load_model(pretrained)
    first = load_model(list_checkpoints(run)[0], "classifier")[0]
    drift = (first.encoder.blocks[0].attn.qkv.weight - pre.blocks[0].attn.qkv.weight).abs().max()
    assert drift < 0.05


def test_resume_continues_exactly(synth_root, pretrained, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    source = tmp_path / "source"
    shutil.copytree(pretrained, source)
    finetune(small(synth_root, source, straight, "optim.max_steps=7"), log=quiet)
    finetune(small(synth_root, source, split, "optim.max_steps=5"), log=quiet)
    # the same command resumes; the pretrained source is no longer needed
    shutil.rmtree(source)
    finetune(small(synth_root, source, split, "optim.max_steps=7"), resume="auto", log=quiet)
    a, b = losses(straight), losses(split)
    assert [b[s] for s in (6, 7)] == [a[s] for s in (6, 7)]  # bit for bit, mixup included
    assert_same_weights(final_weights(straight), final_weights(split))


def test_from_scratch_and_bad_input(synth_root, tmp_path):
    run = tmp_path / "scratch"
    summary = finetune(
        small(synth_root, "random:demo", run, "optim.max_steps=2", "data.size=32"), log=quiet
    )
    assert summary["steps"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("train/0000.mp4 9\n")  # a class never seen in training
    with pytest.raises(ValueError, match="do not match"):
        finetune(small(synth_root, "random:demo", tmp_path / "x", f"data.val={bad}"))
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("train/0000.mp4\n")
    with pytest.raises(ValueError, match="labelled"):
        finetune(small(synth_root, "random:demo", tmp_path / "x", f"data.train={unlabelled}"))
    with pytest.raises(ValueError, match="does not exist"):
        finetune(small(synth_root, "random:demo", tmp_path / "x", "data.val=nowhere.csv"))
    for bad_setting in ("optim.label_smoothing=1.5", "data.num_frames=7"):
        with pytest.raises(ValueError, match=r"label_smoothing|tile"):
            finetune(small(synth_root, "random:demo", tmp_path / "x", bad_setting))
    with pytest.raises(ValueError, match="pretrain first"):
        finetune(small(synth_root, tmp_path / "no-such-run", tmp_path / "x"))
    with pytest.raises(ValueError, match="unknown preset"):
        finetune(small(synth_root, "random:nonsense", tmp_path / "x"))
    assert not (tmp_path / "x").exists()  # nothing written half-way


def test_unreadable_test_videos_are_left_out_and_counted(synth_root, pretrained, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    val = tmp_path / "val.csv"
    val.write_text((synth_root / "val.csv").read_text() + f"{broken} 0\n")
    config = small(synth_root, pretrained, tmp_path / "run", "optim.max_steps=1", f"data.val={val}")
    test = finetune(config, log=quiet)["test"]
    assert test["num"] == 8 and test["unreadable"] == 1


def test_cli_prints_json_last_and_one_line_errors(synth_root, pretrained, tmp_path, capsys):
    args = [
        "finetune",
        "--checkpoint",
        str(pretrained),
        "--train",
        str(synth_root / "train.csv"),
        "--val",
        str(synth_root / "val.csv"),
        "--data-root",
        str(synth_root),
        "--output",
        str(tmp_path / "cli"),
        "optim.max_steps=1",
        "optim.batch_size=4",
        "data.workers=0",
        "data.test_clips=1",
        "data.test_crops=1",
        "run.progress=false",
        "run.tensorboard=false",
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"top1", "top5", "num_videos", "views"} <= result.keys() and result["views"] == "1x1"
    # `sigma-video test` scores the run's final model the same way
    test_args = [
        "test",
        "--checkpoint",
        str(tmp_path / "cli"),
        "--data",
        str(synth_root / "val.csv"),
    ]
    test_args += ["--data-root", str(synth_root), "--clips", "1", "--crops", "1"]
    assert main([*test_args, "--workers", "0", "--device", "cpu"]) == 0
    tested = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    same = ("top1", "top5", "num_videos", "unreadable")  # one vocabulary, percent in both
    assert {k: tested[k] for k in same} == {k: result[k] for k in same}
    assert result["num_videos"] == 8 and "num" not in tested and "num_test" not in result
    with pytest.raises(SystemExit) as exit_info:
        main([*args[:-1], "optim.layer_decay=2"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sigma-video: error:") and "layer_decay" in err and "\n" not in err


@pytest.mark.slow
def test_torchrun_two_processes(synth_root, pretrained, tmp_path):
    """2 gloo ranks stay in sync and the distributed test scores every video exactly once."""
    config = small(synth_root, pretrained, tmp_path / "two", "optim.max_steps=4")
    save_config(config, tmp_path / "two.json")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"),
        *("-m", "sigma_video", "finetune", "--config", str(tmp_path / "two.json")),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[:3000] + "\n…\n" + result.stderr[-1000:]
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_in_sync"]
    assert summary["global_batch"] == 8 and summary["test"]["num"] == 8
    model, _ = load_model(tmp_path / "two", "classifier")
    from sigma_video.data.annotations import read_list
    from sigma_video.data.dataset import ClipConfig
    from sigma_video.data.eval_clips import EvalClips
    from sigma_video.finetuning.evaluate import evaluate

    records = read_list(synth_root / "val.csv", root=str(synth_root))[0]
    clip = ClipConfig(num_frames=4, stride=2, size=32, crop="center")
    single = evaluate(model, EvalClips(records, clip, 2, 3), torch.device("cpu"))
    assert single == {k: summary["test"][k] for k in ("top1", "top5", "num", "unreadable")}


def test_test_command_refuses_a_pretraining_run(pretrained, capsys):
    with pytest.raises(SystemExit) as info:
        main(["test", "--checkpoint", str(pretrained), "--data", "val.csv"])
    assert info.value.code == 2 and "fine-tune it first" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("task", "kind", "score"), [("multilabel", "multilabel", "map"), ("counting", "count", "mae")]
)
def test_multilabel_and_counting_heads_train_and_test(
    task_root, tmp_path, capsys, task, kind, score
):
    run = tmp_path / task
    config = small(
        task_root,
        "random:demo",
        run,
        f"model.task={task}",
        f"data.train={task_root / f'{kind}_train.csv'}",
        f"data.val={task_root / f'{kind}_val.csv'}",
        "data.size=32",
        "data.test_clips=1",
        "data.test_crops=1",
        "optim.max_steps=3",
        "optim.mixup=0.8",  # single-label: said and not applied
    )
    lines = []
    summary = finetune(config, log=lines.append)
    assert summary["task"] == task and summary["test"]["num"] == 4
    assert summary["num_classes"] == (1 if task == "counting" else 6)
    assert any("not applied" in line for line in lines)
    assert torch.isfinite(torch.tensor(summary["loss_last"]))
    # the test command reads the head's task from the run and gives the same score
    main(
        [
            "test",
            "--checkpoint",
            str(run),
            "--data",
            str(task_root / f"{kind}_val.csv"),
            "--clips",
            "1",
            "--crops",
            "1",
            "--workers",
            "0",
        ]
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed[score] == pytest.approx(summary["test"][score], abs=1e-9)


def test_low_shot_subset_and_label_range(synth_root, tmp_path):
    run = tmp_path / "subset"
    extra = ["data.size=32", "data.test_clips=1", "data.test_crops=1", "optim.max_steps=1"]
    summary = finetune(small(synth_root, "random:demo", run, "data.subset=5", *extra), log=quiet)
    saved = (run / "train_subset.txt").read_text().splitlines()
    classes = {int(line.rsplit(None, 1)[1]) for line in saved}
    # ceil(5 / classes) = 1 video of each class present in the 16 training videos
    assert summary["num_train"] == len(saved) == len(classes)
    summary = finetune(
        small(synth_root, "random:demo", tmp_path / "range", "data.label_range=2,3", *extra),
        log=quiet,
    )
    assert summary["num_classes"] == 2  # classes 2 and 3, renumbered 0 and 1
    with pytest.raises(ValueError, match="larger than the training list"):
        finetune(small(synth_root, "random:demo", tmp_path / "x", "data.subset=99", *extra))
