"""The shared inference loop's progress: a bar in a terminal, a few plain lines elsewhere."""

import io
import json
import subprocess
import sys

from sigma_video.evaluation.inference import with_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_plain_lines_off_a_terminal(monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert list(with_progress(range(95), progress=True)) == list(range(95))
    lines = stderr.getvalue().splitlines()
    assert "\r" not in stderr.getvalue() and len(lines) == 10  # every 10th batch, and the last
    assert lines[0].startswith("evaluating: 10/95 batches (10%), ")
    assert lines[-1].startswith("evaluating: 95/95 batches (100%), ")
    stderr.truncate(0)
    assert list(with_progress(range(3), progress=False)) == [0, 1, 2]
    assert stderr.getvalue() == ""


def test_progress_is_a_bar_in_a_terminal(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(with_progress(range(5), progress=True)) == list(range(5))
    assert "\r" in terminal.getvalue() and "5/5" in terminal.getvalue()


def test_extract_into_a_pipe_writes_no_bar(synth_root, tmp_path):
    output = tmp_path / "val.npz"
    argv = ["extract", "--checkpoint", "random:demo", "--data", str(synth_root / "val.csv")]
    argv += ["--output", str(output), "--workers", "0", "--device", "cpu"]
    command = [sys.executable, "-m", "sigma_video", *argv]
    done = subprocess.run(command, capture_output=True, check=True)  # bytes: "\r" kept
    assert b"\r" not in done.stdout + done.stderr
    assert done.stderr.decode().splitlines()[-1].startswith("evaluating: 1/1 batches (100%)")
    assert json.loads(done.stdout.decode().splitlines()[-1])["num"] == 8
