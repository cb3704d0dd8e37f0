"""Helpers of the workflow tests: the CLI run as a user runs it, in a child process."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sigma_video.engine.checkpoint import list_checkpoints

# the tiny pretraining: 16 videos, 4 steps per epoch, 24 steps
TINY = [
    "data.num_frames=4",
    "data.stride=2",
    "data.size=32",
    "model.objective.num_prototypes=32",
    "optim.batch_size=4",
    "optim.epochs=6",
    "optim.warmup_epochs=1",
    "run.log_every=1",
    "run.save_every=4",
    "run.tensorboard=false",
]


def pretrain_cmd(root: Path, output: Path, *extra: str) -> list[str]:
    """The user's command line (``--config demo --data ... --output ...`` + overrides)."""
    data = ["--data", str(root / "train.csv"), "--data-root", str(root)]
    return ["pretrain", "--config", "demo", *data, "--output", str(output), *TINY, *extra]


def start(args: list[str], **kwargs) -> subprocess.Popen:
    """``sigma-video ARGS`` in its own process group (as a terminal or Slurm job step)."""
    cmd = [sys.executable, "-m", "sigma_video", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=env,
        **kwargs,
    )


def run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = start(args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def steps_logged(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if '"loss"' in line)


def wait_for(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    """Poll until ``ready()``; fails if the process ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended before the fault (rc {proc.returncode}): {err[-2000:]}")
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (the loader workers of a run)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(x) for x in text]
    return found


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(list_checkpoints(run_dir)[-1] / "model.safetensors"))


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture(scope="session")
def straight_run(synth_root, tmp_path_factory):
    """The tiny pretraining left alone: what every interrupted run must end with."""
    out = tmp_path_factory.mktemp("straight") / "run"
    done = run(pretrain_cmd(synth_root, out, "data.workers=1"))
    assert done.returncode == 0, done.stderr
    return out
