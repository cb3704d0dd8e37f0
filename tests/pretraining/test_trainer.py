"""End-to-end pretraining runs of the tiny model on real (generated) mp4 files."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from sigma_video.config import save_config
from sigma_video.engine.checkpoint import list_checkpoints, load_checkpoint
from sigma_video.pretraining.config import load_pretrain_config
from sigma_video.pretraining.trainer import TrainingError, pretrain


def tiny(synth_root, output, *extra):
    return load_pretrain_config(
        "demo",
        [
            f"data.train={synth_root / 'train.csv'}",
            f"data.data_root={synth_root}",
            "data.num_frames=4",
            "data.stride=2",
            "data.size=32",
            "data.workers=0",
            "model.objective.num_prototypes=32",
            "optim.batch_size=4",  # 16 videos: 4 steps per epoch
            "optim.epochs=10",
            "optim.warmup_epochs=1",
            "model.target.freeze_epochs=1",  # φ fixed through the warm-up epoch (4 steps)
            "run.log_every=1",
            "run.save_every=2",
            "run.keep_last=10",
            "run.tensorboard=false",
            "run.progress=false",
            f"run.output={output}",
            *extra,
        ],
    )


def losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return {row["step"]: row["loss"] for row in map(json.loads, lines) if "loss" in row}


def final_weights(run_dir):
    return load_file(str(list_checkpoints(run_dir)[-1] / "model.safetensors"))


def start_pretrain(config, config_file, stdout, start_new_session=False):
    """``sigma-video pretrain --config FILE`` as a child process (text output)."""
    save_config(config, config_file)
    cmd = [sys.executable, "-m", "sigma_video", "pretrain", "--config", str(config_file)]
    err = subprocess.PIPE if stdout == subprocess.PIPE else subprocess.DEVNULL
    return subprocess.Popen(
        cmd, stdout=stdout, stderr=err, text=True, start_new_session=start_new_session
    )


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_run_writes_config_metrics_checkpoints_and_summary(synth_root, tmp_path):
    summary = pretrain(tiny(synth_root, tmp_path / "run", "optim.max_steps=6"), log=lambda _: None)
    run = tmp_path / "run"
    assert summary["steps"] == 6 and summary["ranks_in_sync"]
    assert json.loads((run / "config.json").read_text())["optim"]["max_steps"] == 6
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    for key in (
        "loss",
        "loss_phi",
        "loss_psi",
        "lr",
        "grad_norm",
        "usage_entropy",
        "prototypes_in_use",
        "data_wait_s",
        "skipped_samples",
        "clips_per_s",
    ):
        assert key in rows[-1], key
    assert rows[0]["lr"] < rows[-1]["lr"]  # warming up
    assert [p.name for p in list_checkpoints(run)] == [
        "step_00000002",
        "step_00000004",
        "step_00000006",
    ]
    weights, state = load_checkpoint(list_checkpoints(run)[-1])
    assert "encoder.blocks.0.attn.q_bias" in weights and state["step"] == 6
    # φ fixed for its first epoch (4 steps), trained after it; Ψ trains throughout
    at = {step: load_checkpoint(run / "checkpoints" / f"step_{step:08d}")[0] for step in (2, 4, 6)}
    phi = [name for name in weights if name.startswith("target.")]
    assert phi and all(torch.equal(at[2][n], at[4][n]) for n in phi)
    assert not any(torch.equal(at[4][n], at[6][n]) for n in phi)
    assert not torch.equal(
        at[2]["encoder.blocks.0.attn.q_bias"], at[4]["encoder.blocks.0.attn.q_bias"]
    )
    assert json.loads((run / "summary.json").read_text())["steps"] == 6


def test_resume_continues_exactly(synth_root, tmp_path):
    log = lambda _: None  # noqa: E731
    pretrain(tiny(synth_root, tmp_path / "straight", "optim.max_steps=8"), log=log)
    pretrain(tiny(synth_root, tmp_path / "split", "optim.max_steps=5"), log=log)  # mid-epoch
    pretrain(tiny(synth_root, tmp_path / "split", "optim.max_steps=8"), resume="auto", log=log)
    straight, split = losses(tmp_path / "straight"), losses(tmp_path / "split")
    assert [split[s] for s in range(5, 9)] == [straight[s] for s in range(5, 9)]  # bit for bit
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(tmp_path / "split"))


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches(synth_root, tmp_path):
    config = tiny(synth_root, tmp_path / "killed", "optim.max_steps=40")
    proc = start_pretrain(config, tmp_path / "killed.json", stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while (
        not list_checkpoints(tmp_path / "killed")
        or list_checkpoints(tmp_path / "killed")[-1].name < "step_00000006"
    ):
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before the kill"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = int(list_checkpoints(tmp_path / "killed")[-1].name.split("_")[1])
    assert killed_at < 40
    resumed = tiny(synth_root, tmp_path / "killed", "optim.max_steps=12")
    pretrain(resumed, resume="auto", log=lambda _: None)
    pretrain(tiny(synth_root, tmp_path / "straight", "optim.max_steps=12"), log=lambda _: None)
    if killed_at < 12:
        assert_same_weights(
            final_weights(tmp_path / "straight"), final_weights(tmp_path / "killed")
        )


def test_non_finite_loss_is_skipped_then_stops(synth_root, tmp_path):
    config = tiny(
        synth_root,
        tmp_path / "nan",
        "optim.base_lr=1e30",
        "optim.warmup_epochs=0",
        "run.max_nonfinite=3",
        "optim.max_steps=30",
    )
    with pytest.raises(TrainingError, match="not finite for 3 steps"):
        pretrain(config, log=lambda _: None)
    for checkpoint in list_checkpoints(tmp_path / "nan"):
        assert all(torch.isfinite(t).all() for t in load_checkpoint(checkpoint)[0].values())


def test_bad_input(synth_root, tmp_path):
    log = lambda _: None  # noqa: E731
    pretrain(tiny(synth_root, tmp_path / "run", "optim.max_steps=1"), log=log)
    with pytest.raises(ValueError, match=r"already holds a run.*--resume auto.*--overwrite"):
        pretrain(tiny(synth_root, tmp_path / "run", "optim.max_steps=1"), log=log)
    summary = pretrain(
        tiny(synth_root, tmp_path / "run", "optim.max_steps=2"), overwrite=True, log=log
    )
    assert summary["steps"] == 2
    with pytest.raises(ValueError, match="does not exist"):
        pretrain(tiny(synth_root, tmp_path / "x", f"data.train={tmp_path / 'nope.csv'}"), log=log)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="cannot write to output directory"):
        pretrain(tiny(synth_root, blocker / "sub", "optim.max_steps=1"), log=log)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            pretrain(tiny(synth_root, tmp_path / "y", "run.device=cuda"), log=log)
    with pytest.raises(ValueError, match="fewer than one global batch"):
        pretrain(tiny(synth_root, tmp_path / "z", "optim.batch_size=64"), log=log)
    for name in ("x", "y", "z"):
        assert not (tmp_path / name).exists()  # nothing half-written


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(synth_root, tmp_path):
    """2 gloo ranks × batch 2 stay in sync and match 1 process × batch 4 (same global batch)."""
    one = tiny(synth_root, tmp_path / "one", "optim.max_steps=6", "optim.batch_size=4")
    two = tiny(synth_root, tmp_path / "two", "optim.max_steps=6", "optim.batch_size=2")
    save_config(two, tmp_path / "two.json")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "sigma_video",
        "pretrain",
        "--config",
        str(tmp_path / "two.json"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[:3000] + "\n…\n" + result.stderr[-1000:]
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_in_sync"] and summary["global_batch"] == 4
    # clips_per_s counts both ranks' clips, in summary.json as in metrics.jsonl
    assert summary["clips_per_s"] == pytest.approx(6 * 4 / summary["seconds"], rel=0.02)
    rows = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert all(row["world_size"] == 2 for row in rows)
    pretrain(one, log=lambda _: None)
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert a.keys() == b.keys()
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-4), step
    wa, wb = final_weights(tmp_path / "one"), final_weights(tmp_path / "two")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-3, atol=1e-5)


def test_gradient_accumulation_equals_the_full_batch(synth_root, tmp_path):
    """2 micro-batches of 2 give the same step as one batch of 4 (same samples). With the
    pixel objective this is exact; SIGMA's Sinkhorn sees one micro-batch at a time."""
    log = lambda _: None  # noqa: E731
    pixels = ("model.target.kind=pixels", "model.objective.kind=l2", "optim.max_steps=3")
    pretrain(tiny(synth_root, tmp_path / "full", *pixels, "optim.batch_size=4"), log=log)
    accum = (*pixels, "optim.batch_size=2", "optim.accum_steps=2")
    pretrain(tiny(synth_root, tmp_path / "accum", *accum), log=log)
    a, b = losses(tmp_path / "full"), losses(tmp_path / "accum")
    assert a.keys() == b.keys() == {1, 2, 3}
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-5)
    wa, wb = final_weights(tmp_path / "full"), final_weights(tmp_path / "accum")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_compiled_run_matches_eager(synth_root, tmp_path):
    """``run.compile=true`` (torch.compile, inductor on CPU) trains the same numbers. Soft
    codes: with hard ones a float reassociation in a fused kernel may flip the argmax of a
    near-tied code, which moves the loss by a step that says nothing about the compilation."""
    soft = ("optim.max_steps=3", "model.objective.codes=soft")
    eager = pretrain(tiny(synth_root, tmp_path / "eager", *soft), log=lambda _: None)
    compiled = pretrain(
        tiny(synth_root, tmp_path / "compiled", *soft, "run.compile=true"),
        log=lambda _: None,
    )
    assert compiled["loss_last"] == pytest.approx(eager["loss_last"], rel=1e-4)
    a, b = final_weights(tmp_path / "eager"), final_weights(tmp_path / "compiled")
    assert a.keys() == b.keys()  # no _orig_mod. prefixes in checkpoints
    for key in a:
        # float reassociation in the fused kernels, 3 AdamW steps (8-pixel demo tubes)
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=5e-4)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_stop_signal_saves_a_checkpoint_and_exits_cleanly(synth_root, tmp_path, sig):
    """Slurm/Kubernetes pre-emption (SIGTERM, Slurm's --signal USR1) or Ctrl-C, sent to
    the whole process group as a terminal or Slurm does (loader workers included): the run
    ends after its current step with a checkpoint, one line and exit 0; --resume auto then
    trains exactly what an uninterrupted run trains."""
    run = tmp_path / "stopped"
    config = tiny(synth_root, run, "optim.max_steps=400", "data.workers=1", "run.save_every=1000")
    proc = start_pretrain(
        config, tmp_path / "stopped.json", stdout=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while len(losses(run) if (run / "metrics.jsonl").exists() else {}) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before the signal"
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    stopped_at = json.loads((run / "summary.json").read_text())
    assert stopped_at["stopped_by"] == signal.Signals(sig).name
    step = stopped_at["steps"]
    assert 3 <= step < 400
    assert f"stopped by {signal.Signals(sig).name} after step {step}" in out.splitlines()[-1]
    assert list_checkpoints(run)[-1].name == f"step_{step:08d}"
    if sig != signal.SIGTERM:
        return
    log = lambda _: None  # noqa: E731
    pretrain(tiny(synth_root, run, f"optim.max_steps={step + 2}"), resume="auto", log=log)
    pretrain(tiny(synth_root, tmp_path / "straight", f"optim.max_steps={step + 2}"), log=log)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(run))


def test_time_based_checkpoints(synth_root, tmp_path):
    config = tiny(
        synth_root,
        tmp_path / "run",
        "optim.max_steps=4",
        "run.save_every=1000",
        "run.save_every_minutes=1e-6",
    )
    pretrain(config, log=lambda _: None)
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == [
        f"step_{s:08d}" for s in (1, 2, 3, 4)
    ]


@pytest.mark.slow
def test_collapse_monitor_in_a_run(synth_root, tmp_path):
    """A too-large step collapses φ (it sends every tube to one prototype — the mechanism of
    BENCHMARKS' ablation): the run warns once (log line, metrics.jsonl, summary.json); the
    demo's rate on the same data stays quiet."""
    collapsing = tiny(synth_root, tmp_path / "hot", "optim.max_steps=30", "optim.base_lr=2.0")
    summary = pretrain(collapsing, log=lambda _: None)
    warning = summary["collapse_warning"]
    assert warning is not None and warning["score_entropy"] < 0.05, summary
    rows = [json.loads(r) for r in (tmp_path / "hot" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "collapse_warning" in r] == [warning["step"]]
    healthy = pretrain(tiny(synth_root, tmp_path / "sigma", "optim.max_steps=12"), log=print)
    assert healthy["collapse_warning"] is None


def test_resume_uses_the_runs_own_settings(synth_root, tmp_path, capsys):
    """`--resume auto` without the original overrides resumes with the run's config.json;
    overrides that change the run are refused unless --allow-changes (then recorded); a
    finished run says so and keeps its summary."""
    from sigma_video.cli import main

    run = tmp_path / "run"
    save_config(tiny(synth_root, run, "optim.max_steps=4"), tmp_path / "c.json")
    assert main(["pretrain", "--config", str(tmp_path / "c.json")]) == 0
    summary = (run / "summary.json").read_text()
    assert main(["pretrain", "--output", str(run), "--resume", "auto"]) == 0
    assert "already finished at step 4" in capsys.readouterr().out
    assert (run / "summary.json").read_text() == summary
    lr = json.loads((run / "config.json").read_text())["optim"]["base_lr"]
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "--output", str(run), "--resume", "auto", "optim.base_lr=0.5"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"optim.base_lr: {lr} -> 0.5" in err and "--allow-changes" in err
    argv = ["pretrain", "--output", str(run), "--resume", "auto", "--allow-changes"]
    assert main([*argv, "optim.base_lr=0.5", "optim.max_steps=6"]) == 0
    whole = json.loads((run / "summary.json").read_text())  # covers both sessions
    assert whole["steps"] == 6 and json.loads(summary)["loss_first"] == whole["loss_first"]
    assert [(x["start_step"], x["end_step"]) for x in whole["sessions"]] == [(0, 4), (4, 6)]
    assert whole["seconds_total"] >= whole["seconds"]
    record = json.loads((run / "config_changes.jsonl").read_text().splitlines()[-1])
    assert record["changes"] == {"optim.base_lr": [lr, 0.5]}  # max_steps: where a session ends
    saved = json.loads((run / "config.json").read_text())["optim"]
    assert saved["max_steps"] == 6 and saved["base_lr"] == 0.5


def test_a_failed_start_leaves_no_run_and_overwrite_clears_old_curves(synth_root, tmp_path):
    log = lambda _: None  # noqa: E731
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")  # a start that failed before its first checkpoint
    (run / "metrics.jsonl").write_text('{"step": 99, "loss": 1.0}\n')
    summary = pretrain(tiny(synth_root, run, "optim.max_steps=2"), log=log)  # no --overwrite
    assert summary["steps"] == 2 and 99 not in losses(run)
    old_events = run / "tensorboard" / "events.out.tfevents.old"
    old_events.parent.mkdir(exist_ok=True)
    old_events.write_text("")
    pretrain(tiny(synth_root, run, "optim.max_steps=2"), overwrite=True, log=log)
    assert not old_events.exists()
