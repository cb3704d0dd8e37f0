"""The requeue pattern for fine-tuning and for the SEVERE suite: the job is killed with
SIGKILL after a checkpoint, the same command line runs again (``--resume auto`` for
``finetune``; ``severe`` continues by itself) and ends as a job left alone does."""

import json
import os
import signal
from pathlib import Path

import pytest

from sigma_video.engine.checkpoint import list_checkpoints
from tests.workflows.conftest import assert_same_weights, final_weights, run, start, wait_for

# 16 videos, 2 steps per epoch, 6 steps, a checkpoint after each; every random part of the
# recipe switched on (mixup/cutmix, drop path, RandAugment, random erasing)
FINETUNE = [
    "data.num_frames=4",
    "data.stride=2",
    "data.size=16",
    "data.workers=1",
    "data.test_clips=1",
    "data.test_crops=2",
    "data.randaugment=m7-n4-mstd0.5-inc1",
    "data.reprob=0.25",
    "model.drop_path=0.1",
    "optim.mixup=0.8",
    "optim.cutmix=1.0",
    "optim.batch_size=8",
    "optim.epochs=3",
    "optim.warmup_epochs=1",
    "run.log_every=1",
    "run.save_every=1",
    "run.tensorboard=false",
]


def finetune_cmd(root: Path, output: Path) -> list[str]:
    lists = ["--train", str(root / "train.csv"), "--val", str(root / "val.csv")]
    return ["finetune", "--checkpoint", "random:demo", *lists, "--output", str(output), *FINETUNE]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One intra-op thread per job: two jobs share the cores (the same in every run, so the
    numbers compared are computed alike)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def kill_after(proc, run_dir: Path, checkpoints: int) -> None:
    """SIGKILL to the job's process group once ``run_dir`` holds that many checkpoints."""
    wait_for(proc, lambda: run_dir.exists() and len(list_checkpoints(run_dir)) >= checkpoints)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_finetune_resumes_after_sigkill(synth_root, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    alone = start(finetune_cmd(synth_root, straight))  # both at once: the cores are shared
    cmd = finetune_cmd(synth_root, killed)
    proc = start(cmd)
    kill_after(proc, killed, 2)  # at the end of the first epoch
    assert list_checkpoints(killed)[-1].name < "step_00000006"  # killed before the end
    again = run([*cmd, "--resume", "auto"])
    out, err = alone.communicate(timeout=300)
    assert alone.returncode == 0, err[-3000:]
    assert again.returncode == 0, again.stderr[-3000:]
    assert_same_weights(final_weights(straight), final_weights(killed))
    left_alone, resumed = last_json(out), last_json(again.stdout)
    assert resumed["top1"] == left_alone["top1"] and resumed["num_videos"] == 8


SUITE = """
[suite]
name = "two motion columns"

[[task]]
name = "motion"
preset = "demo"
train = "train.csv"
val = "val.csv"
overrides = ["optim.batch_size=8", "optim.epochs=1"]

[[task]]
name = "motion (6)"
group = "sample efficiency"
preset = "demo"
train = "train.csv"
val = "val.csv"
subset = 6
overrides = ["optim.batch_size=2", "optim.epochs=2"]
"""
SEVERE = [  # after each task's own overrides
    "data.num_frames=4",
    "data.stride=2",
    "data.size=16",
    "data.workers=0",
    "data.test_clips=1",
    "data.test_crops=1",
    "optim.warmup_epochs=1",
    "run.log_every=1",
    "run.save_every=1",
    "run.tensorboard=false",
]


@pytest.mark.slow
def test_severe_continues_after_sigkill(synth_root, tmp_path):
    """Killed in its second task, the same command reads the first back and continues
    the second from its checkpoint: the table and the weights are those of a suite run
    left alone."""
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE)

    def severe_cmd(output: Path) -> list[str]:
        where = ["--suite", str(suite), "--data-root", str(synth_root), "--output", str(output)]
        return ["severe", "--checkpoint", "random:demo", *where, *SEVERE]

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    alone = start(severe_cmd(straight))
    proc = start(severe_cmd(killed))
    kill_after(proc, killed / "motion_6", 1)
    assert not (killed / "motion_6" / "summary.json").exists()  # killed mid-task
    again = run(severe_cmd(killed))
    out, err = alone.communicate(timeout=300)
    assert alone.returncode == 0, err[-3000:]
    assert again.returncode == 0, again.stderr[-3000:]
    assert "motion: already done in" in again.stdout
    table = (straight / "severe.md").read_text()
    assert (killed / "severe.md").read_text() == table and table in out  # the table printed
    expected = json.loads((straight / "severe.json").read_text())
    result = json.loads((killed / "severe.json").read_text())
    assert [t["status"] for t in result["tasks"]] == ["done", "done"]
    assert [t["scores"] for t in result["tasks"]] == [t["scores"] for t in expected["tasks"]]
    for task in ("motion", "motion_6"):
        assert_same_weights(final_weights(straight / task), final_weights(killed / task))
