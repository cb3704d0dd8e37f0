"""Run logs in a file or pipe: one plain line per log window, no progress-bar redraws."""

import json
import subprocess
import sys

import pytest

from sigma_video.config import save_config
from sigma_video.engine.logger import plain_line
from tests.pretraining.test_trainer import tiny


def test_plain_line():
    import time

    line = plain_line(30, 120, 10, time.perf_counter() - 20.0, {"loss": "7.1200"})
    assert line.startswith("step 30/120 (25%) loss 7.1200 eta ")
    assert line.endswith("1m30s") or line.endswith("1m29s")  # 20 s for 20 steps, 90 to go


@pytest.mark.slow
def test_piped_run_writes_one_line_per_log_window(synth_root, tmp_path):
    config = tiny(synth_root, tmp_path / "run", "optim.max_steps=6", "run.log_every=2")
    config.run.progress = True
    save_config(config, tmp_path / "run.json")
    out = subprocess.run(
        [sys.executable, "-m", "sigma_video", "pretrain", "--config", str(tmp_path / "run.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "\r" not in out.stdout + out.stderr  # no redrawn bar
    steps = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("step ")]
    assert steps == ["2/6", "4/6", "6/6"]
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
