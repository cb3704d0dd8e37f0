"""Faults caused on purpose while a run trains, as the environment causes them: a loader
worker killed (the OOM killer), bad data, a full disk. Each ends in one line and a non-zero
exit within seconds, leaves the last checkpoint intact, and the same command plus
``--resume auto`` then ends with the weights of a run left alone."""

import os
import signal
import subprocess
import time

import pytest

from sigma_video.engine.checkpoint import list_checkpoints
from tests.workflows.conftest import (
    assert_same_weights,
    children,
    final_weights,
    pretrain_cmd,
    run,
    start,
    steps_logged,
    wait_for,
)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert lines and lines[-1].startswith("sigma-video: error: "), stderr
    return lines[-1]


@pytest.mark.slow
def test_a_killed_loader_worker_ends_the_run_in_one_line(synth_root, straight_run, tmp_path):
    out = tmp_path / "run"
    cmd = pretrain_cmd(synth_root, out, "data.workers=2")
    proc = start(cmd)
    wait_for(proc, lambda: steps_logged(out) >= 5)  # a checkpoint at step 4
    workers = children(proc.pid)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    started = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode != 0
    line = one_error_line(stderr)
    assert "data loader worker died" in line and "data.workers" in line, line
    assert "is intact" in line and "--resume auto" in line
    assert list_checkpoints(out)
    time.sleep(0.5)
    assert all(not os.path.exists(f"/proc/{pid}") for pid in workers[1:])  # no orphan left
    again = run([*cmd, "--resume", "auto"])
    assert again.returncode == 0, again.stderr
    assert_same_weights(final_weights(straight_run), final_weights(out))


def test_a_stop_on_bad_data_exits(tmp_path):
    """A list of files that are not videos: one line, exit 2, in seconds (the loader
    workers are shut down on the error path)."""
    lines = []
    for i in range(32):
        path = tmp_path / f"v{i}.mp4"
        path.write_text(f"not a video {i}")
        lines.append(f"{path} {i % 3}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    data = ["--data", str(tmp_path / "list.txt")]
    started = time.monotonic()
    done = run(["pretrain", "--config", "demo", *data, "--output", str(out), "data.workers=2"], 60)
    assert time.monotonic() - started < 45
    assert done.returncode == 2
    assert "could not be decoded" in one_error_line(done.stderr)


@pytest.fixture
def small_disk(tmp_path):
    """A 50 MB file system (tmpfs): one checkpoint of the tiny run fits, two do not."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=50m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_while_saving_ends_in_one_line(synth_root, straight_run, small_disk):
    out = small_disk / "run"
    cmd = pretrain_cmd(synth_root, out, "data.workers=1")
    done = run(cmd)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "no space left on device while writing checkpoint step_00000008" in line, line
    assert "step_00000004 is intact" in line
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_00000004"]  # no leftover
    remount = ["mount", "-o", "remount,size=200m", str(small_disk)]
    subprocess.run(remount, check=True)  # room again
    again = run([*cmd, "--resume", "auto"])
    assert again.returncode == 0, again.stderr
    assert_same_weights(final_weights(straight_run), final_weights(out))


@pytest.mark.slow
def test_a_damaged_latest_checkpoint_is_passed_over(synth_root, straight_run, tmp_path):
    """A requeued job cannot answer a question: `--resume auto` warns about a damaged
    newest checkpoint and resumes from the one before, exactly."""
    out = tmp_path / "run"
    cmd = pretrain_cmd(synth_root, out, "data.workers=0", "run.keep_last=10")
    proc = start(cmd)
    wait_for(proc, lambda: len(list_checkpoints(out)) >= 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    newest = list_checkpoints(out)[-1]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # cut short
    again = run([*cmd, "--resume", "auto"])
    assert again.returncode == 0, again.stderr
    assert f"warning: checkpoint {newest} is damaged" in again.stdout
    assert_same_weights(final_weights(straight_run), final_weights(out))


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_in_one_line(synth_root, tmp_path):
    """Ctrl-C twice (the terminal signals the whole group) while a step runs: no
    traceback, exit 130. (Steps of 16 clips of 8 × 64², so that the second one comes
    while the first is still being finished.)"""
    out = tmp_path / "run"
    slower = ["data.size=64", "data.num_frames=8", "optim.batch_size=16"]
    proc = start(pretrain_cmd(synth_root, out, "data.workers=1", "run.save_every=1000", *slower))
    wait_for(proc, lambda: steps_logged(out) >= 1)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.1)  # two at once would reach Python as one
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "sigma-video: interrupted by a second Ctrl-C, without a checkpoint"
    )
