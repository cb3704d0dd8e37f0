import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from sigma_video.cli import build_parser, main


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bench_sinkhorn_prints_json(capsys):
    code, out, _ = run_cli(
        capsys, "bench", "sinkhorn", "--rows", "200", "--prototypes", "30", "--repeats", "2"
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["rows"] == 200 and result["prototypes"] == 30
    assert result["median_ms"] > 0 and result["min_ms"] <= result["median_ms"] <= result["max_ms"]


def test_bench_step_prints_json(capsys):
    code, out, _ = run_cli(
        capsys,
        "bench",
        "step",
        "--batch-size",
        "2",
        "--repeats",
        "1",
        "model.objective.num_prototypes=16",
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["model"] == "vit_tiny" and result["clip"] == [3, 8, 64, 64]
    assert result["clips_per_s"] > 0 and result["precision"] == "fp32"
    assert result["num_prototypes"] == 16
    # the keys of a pretraining config's [model] and [mask] sections
    argv = ["model.arch=vit_small", "model.target.kind=pixels", "model.objective.kind=l2"]
    code, out, _ = run_cli(capsys, "bench", "step", "--batch-size", "1", "--repeats", "1", *argv)
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["model"], result["target"], result["objective"]) == ("vit_small", "pixels", "l2")
    with pytest.raises(SystemExit):
        main(["bench", "step", "model.objective.num_prototyp=3"])
    assert "did you mean 'model.objective.num_prototypes'" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_pipeline_probe_and_segment_print_json(capsys, synth_root):
    data = [f"data.train={synth_root / 'train.csv'}", f"data.data_root={synth_root}"]
    small = [
        "data.num_frames=4",
        "data.size=32",
        "optim.batch_size=4",
        "model.objective.num_prototypes=16",
    ]
    code, out, _ = run_cli(
        capsys, "bench", "pipeline", "--steps", "7", "--workers", "0,1", *data, *small
    )
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and [r["workers"] for r in rows] == [0, 1]
    for row in rows:
        assert row["steps_timed"] == 2 and 0 <= row["busy_fraction"] <= 1
        assert row["data_wait_ms"] <= row["step_ms"] and row["clips_per_s"] > 0
    code, out, _ = run_cli(capsys, "bench", "probe", "--num-train", "200", "--classes", "4")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["num_train"] == 200 and result["probe_top1"] > 90
    code, out, _ = run_cli(capsys, "bench", "segment")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["tubes"] == 1568 and result["per_clip_cpu_s"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "pipeline", "--workers", "two"], "comma-separated"),
        (["bench", "sinkhorn", "--rows", "10", "--epsilon", "0"], "epsilon"),
        (["bench", "sinkhorn", "--rows", "10", "--prototypes", "1"], "K >= 2"),
        (["bench", "step", "mask.ratio=1.5"], "mask.ratio must be in"),
        (["pretrain", "optim.base_lr=fast"], "optim.base_lr"),
        pytest.param(
            [
                "probe",
                "--checkpoint",
                "random:demo",
                "--train",
                "t",
                "--val",
                "v",
                "--device",
                "cuda",
            ],
            "--device cuda but this machine has no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="machine has CUDA"),
        ),
        pytest.param(
            ["segment", "--checkpoint", "random:demo", "--data", "d", "--device", "cuda"],
            "--device cuda but this machine has no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="machine has CUDA"),
        ),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("sigma-video: error:") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["probe", "knn", "extract", "segment"])
def test_evaluation_uses_the_gpu_when_there_is_one(command):
    """Every evaluation command defaults to ``auto`` (CUDA if present), as pretrain does."""
    parser = build_parser()
    required = {
        "probe": ["--checkpoint", "c", "--train", "t", "--val", "v"],
        "knn": ["--checkpoint", "c", "--train", "t", "--val", "v"],
        "extract": ["--checkpoint", "c", "--data", "d", "--output", "o.npz"],
        "segment": ["--checkpoint", "c", "--data", "d"],
    }[command]
    assert parser.parse_args([command, *required]).device == "auto"


@pytest.mark.slow
def test_console_entry_point_lists_models():
    out = subprocess.run(
        [sys.executable, "-m", "sigma_video", "models"], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == [
        "vit_base",
        "vit_giant",
        "vit_huge",
        "vit_large",
        "vit_small",
        "vit_tiny",
    ]


def test_data_synth_and_bench_data(capsys, tmp_path):
    out_dir = tmp_path / "synth"
    code, out, _ = run_cli(
        capsys,
        "data",
        "synth",
        "--output",
        str(out_dir),
        "--num-train",
        "3",
        "--num-val",
        "2",
        "--size",
        "64",
    )
    assert code == 0 and (out_dir / "train.csv").read_text().count("\n") == 3
    tasks_dir = tmp_path / "tasks"
    args = ["data", "synth", "--tasks", "--output", str(tasks_dir), "--num-train", "2"]
    code, out, _ = run_cli(capsys, *args, "--num-val", "1", "--size", "64")
    assert code == 0 and "multilabel_" in out
    assert (tasks_dir / "count_train.csv").read_text().count("\n") == 2
    code, out, _ = run_cli(
        capsys,
        "bench",
        "data",
        "--list",
        str(out_dir / "train.csv"),
        "--data-root",
        str(out_dir),
        "--workers",
        "0",
        "--clips",
        "3",
        "--num-frames",
        "8",
        "--stride",
        "2",
        "--size",
        "32",
        "--num-sample",
        "2",
        "--backend",
        "pyav",
    )
    rows = [json.loads(line) for line in out.strip().splitlines()]
    compared = ["pyav", "pyav-two-opens", "pyav-noskip", "pyav-whole-video"]
    assert code == 0 and [(r["backend"], r["num_sample"]) for r in rows] == [
        (name, n) for name in compared for n in (1, 2)
    ]
    assert rows[1]["views_per_s"] > rows[1]["decodes_per_s"]
    assert all(r["skipped"] == 0 for r in rows)


def test_bad_list_is_one_line_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "data", "--list", str(tmp_path / "missing.csv")])
    assert exc.value.code == 2 and "missing.csv does not exist" in capsys.readouterr().err


def test_extract_probe_and_knn(capsys, synth_root, tmp_path):
    lists = ["--train", str(synth_root / "train.csv"), "--val", str(synth_root / "val.csv")]
    common = ["--checkpoint", "random:demo", "--data-root", str(synth_root), "--workers", "0"]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    code, out, _ = run_cli(capsys, "probe", *common, *lists, *cache)
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["num_train"] == 16 and result["num_val"] == 8
    assert 0 <= result["top1"] <= result["top5"] <= 100  # percent, as finetune / test
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2  # train + val cached
    code, out, _ = run_cli(capsys, "knn", *common, *lists, *cache)
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and {"top1_k20", "top1_k200"} <= result.keys() and "top1" not in result
    target = tmp_path / "feats.safetensors"
    code, out, _ = run_cli(
        capsys, "extract", *common, "--data", str(synth_root / "val.csv"), "--output", str(target)
    )
    from safetensors.torch import load_file

    stored = load_file(str(target))
    assert stored["features"].shape == (8, 192) and stored["labels"].shape == (8,)
    from safetensors import safe_open

    with safe_open(str(target), "pt") as handle:
        paths = json.loads(handle.metadata()["paths"])
    assert len(paths) == 8 and paths[0].endswith("videos/val/00000.mp4")
    grid = tmp_path / "grid.npz"
    code, out, _ = run_cli(
        capsys,
        "extract",
        *common,
        "--data",
        str(synth_root / "val.csv"),
        "--output",
        str(grid),
        "--grid",
        "--num-crops",
        "3",
    )
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["grid"] == [
        8,
        4,
        8,
        8,
        192,
    ]  # demo: 8-pixel tubes
    arrays = np.load(grid)
    assert list(arrays["paths"]) == paths
    # pooled = fc_norm(mean over tubes) of the same views; the demo encoder has no fc_norm
    np.testing.assert_allclose(arrays["grid"].mean(axis=(1, 2, 3)), arrays["features"], atol=1e-5)
    assert not list(tmp_path.glob(".grid*"))  # written atomically
    with pytest.raises(SystemExit):
        main(["extract", *common, "--data", str(synth_root / "val.csv"), "--output", "f.txt"])


@pytest.mark.parametrize("argv", [["probe"], ["knn"], ["probe", "augment=true"]])
def test_mismatched_lists_are_refused_before_any_extraction(
    capsys, synth_root, tmp_path, monkeypatch, argv
):
    from sigma_video.evaluation import protocol

    def no_extraction(*args, **kwargs):
        raise AssertionError("features extracted before the labels were checked")

    monkeypatch.setattr(protocol, "features_for", no_extraction)
    val = tmp_path / "val.csv"
    val.write_text(f"{synth_root / 'videos/val/00000.mp4'} 99\n")
    lists = ["--train", str(synth_root / "train.csv"), "--val", str(val)]
    with pytest.raises(SystemExit) as exc:
        main([argv[0], "--checkpoint", "random:demo", *lists, "--workers", "0", *argv[1:]])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "val labels [99] never occur in train" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", ["probe", "knn", "segment", "extract"])
def test_a_checkpoint_that_does_not_exist_is_one_line(capsys, synth_root, tmp_path, command):
    data = {
        "probe": ["--train", str(synth_root / "train.csv"), "--val", str(synth_root / "val.csv")],
        "segment": ["--data", str(synth_root / "davis")],
        "extract": ["--data", str(synth_root / "val.csv"), "--output", str(tmp_path / "f.npz")],
    }
    checkpoint = tmp_path / "nowhere"
    with pytest.raises(SystemExit) as exc:
        main([command, "--checkpoint", str(checkpoint), *data.get(command, data["probe"])])
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"sigma-video: error: {checkpoint} does not exist\n"


def test_one_line_unwraps_errors_from_loader_workers():
    from sigma_video.cli import one_line

    wrapped = RuntimeError(
        "Caught DecodeError in DataLoader worker process 0.\nOriginal Traceback (most recent "
        'call last):\n  File "x.py", line 1, in f\nsigma_video.data.decode.DecodeError: '
        "clips/a.mp4: moov atom not found\n"
    )
    assert one_line(wrapped) == "clips/a.mp4: moov atom not found"
    assert one_line(ValueError("first\nsecond")) == "first"
    assert one_line(ValueError("")) == "ValueError"


def test_help_does_not_load_torch():
    """``sigma-video --help`` answers at once: parsing imports no torch."""
    code = (
        "import sys; from sigma_video.cli import build_parser; build_parser().format_help(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_version():
    import sigma_video

    out = subprocess.run(
        [sys.executable, "-m", "sigma_video", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"sigma-video {sigma_video.__version__}"


def test_overrides_may_follow_flags(tmp_path, capsys):
    """A requeue script appends ``--resume auto`` or a session override after the rest."""
    from sigma_video.cli import main

    assert main(["config", "optim.epochs=3", "--config", "demo", "run.seed=4"]) == 0
    out = capsys.readouterr().out
    assert "epochs = 3" in out and "seed = 4" in out
    with pytest.raises(SystemExit) as exc:
        main(["models", "optim.epochs=3"])  # a command without overrides
    assert (
        exc.value.code == 2 and "unrecognized arguments: optim.epochs=3" in capsys.readouterr().err
    )


@pytest.mark.parametrize("finetune", [False, True])
def test_config_command_prints_a_documented_preset_that_loads_back(capsys, tmp_path, finetune):
    from sigma_video.finetuning.config import load_finetune_config
    from sigma_video.pretraining.config import load_pretrain_config

    flag = ["--finetune"] if finetune else []
    assert main(["config", *flag, "optim.batch_size=8", "run.seed=3"]) == 0
    text = capsys.readouterr().out
    assert "batch_size = 8" in text and text.startswith("[model]\n# ")
    assert "# peak lr, scaled by global batch / 256\nbase_lr = " in text  # each field's docstring
    if not finetune:
        assert "[model.objective]" in text and "# share of the tubes hidden\nratio = 0.9" in text
    (tmp_path / "printed.toml").write_text(text)
    load = load_finetune_config if finetune else load_pretrain_config
    assert load(str(tmp_path / "printed.toml")) == load(
        "demo", ["optim.batch_size=8", "run.seed=3"]
    )


def test_random_encoder_of_a_model_name():
    from sigma_video.io import load_model

    encoder, clip = load_model("random:vit_small")  # a name `sigma-video models` prints
    assert encoder.config.embed_dim == 384 and clip.size == 224


def test_the_cli_leaves_a_process_group_it_ran_in(tmp_path):
    """A torchrun group is left before exit (a gloo group left to the interpreter's teardown
    aborted ranks now and then); without a group it does nothing."""
    import torch.distributed as dist

    from sigma_video.cli import leave_process_group

    leave_process_group(wait=True)  # never joined: nothing to leave
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    assert dist.is_initialized()
    leave_process_group(wait=True)
    assert not dist.is_initialized()
