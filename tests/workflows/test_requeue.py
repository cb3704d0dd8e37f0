"""The requeue pattern as a cluster job runs it: the same command line, plus
``--resume auto``, after the job was stopped (SIGTERM) or killed (SIGKILL), reading a list
or its shards; the run ends with the weights of a run left alone."""

import json
import os
import signal

import pytest

from sigma_video.engine.checkpoint import list_checkpoints
from tests.workflows.conftest import (
    TINY,
    assert_same_weights,
    final_weights,
    pretrain_cmd,
    run,
    start,
    steps_logged,
    summary,
    wait_for,
)


@pytest.mark.slow
def test_same_command_resumes_after_sigterm(synth_root, straight_run, tmp_path):
    out = tmp_path / "run"
    cmd = pretrain_cmd(synth_root, out, "data.workers=1")
    proc = start(cmd)
    wait_for(proc, lambda: steps_logged(out) >= 3)
    os.killpg(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "continue with --resume auto" in stdout
    again = run([*cmd, "--resume", "auto"])
    assert again.returncode == 0, again.stderr
    assert_same_weights(final_weights(straight_run), final_weights(out))


@pytest.fixture(scope="module")
def shards(synth_root, tmp_path_factory):
    """The embedded training list written as tar shards with ``data shard``."""
    out = tmp_path_factory.mktemp("shards") / "train"
    args = ["data", "shard", str(synth_root / "train.csv"), "--data-root", str(synth_root)]
    done = run([*args, "--output", str(out), "--shard-size", "60KB"])
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize("source", ["list", "shards"])
def test_same_command_resumes_after_sigkill(synth_root, straight_run, tmp_path, source, request):
    """Killed after a checkpoint and run again: the weights of the run left alone (which
    read the list; the same samples in the same order from its shards)."""
    out = tmp_path / "run"
    cmd = pretrain_cmd(synth_root, out, "data.workers=1")
    if source == "shards":
        folder = request.getfixturevalue("shards")
        cmd = ["pretrain", "--config", "demo", "--data", str(folder), "--output", str(out)]
        cmd += [*TINY, "data.workers=1"]
    proc = start(cmd)
    wait_for(proc, lambda: steps_logged(out) >= 6)  # a checkpoint at 4, killed after it
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = steps_logged(out)
    assert list_checkpoints(out)[-1].name == "step_00000004" and killed_at < 24
    again = run([*cmd, "--resume", "auto"])
    assert again.returncode == 0, again.stderr
    assert_same_weights(final_weights(straight_run), final_weights(out))
    whole = summary(out)  # the killed part of the run is counted too
    assert [(s["start_step"], s["end_step"]) for s in whole["sessions"]] == [(0, 4), (4, 24)]
    assert whole["sessions"][0]["stopped_by"] == "killed"
    assert whole["loss_first"] == summary(straight_run)["loss_first"]
    assert whole["seconds_total"] > whole["seconds"]
    read = json.loads((out / "config.json").read_text())["data"]["train"]
    assert read == str(
        request.getfixturevalue("shards") if source == "shards" else synth_root / "train.csv"
    )


def test_a_finished_run_resumed_keeps_its_report(synth_root, tmp_path, monkeypatch, capsys):
    """The demo's closing evaluation runs once: a finished run resumed says "nothing to
    do" and leaves report and summary as they are; `run.probe_after=false` is no change;
    a run killed during its closing evaluation gets it at the next start."""
    import sigma_video.evaluation.report as report
    import sigma_video.pretraining.trainer as trainer
    from sigma_video.cli import main

    monkeypatch.setattr(trainer, "default_dataset", lambda log: synth_root)  # the embedded set
    probed = []

    def probe_report(run_dir):
        probed.append(run_dir)
        (tmp_path / "run" / "report.json").write_text("{}")

    monkeypatch.setattr(report, "probe_report", probe_report)
    out = tmp_path / "run"
    cmd = ["pretrain", "--config", "demo", "--output", str(out), *TINY, "data.workers=0"]
    cmd += ["optim.max_steps=2"]
    assert main(cmd) == 0 and len(probed) == 1
    before = (out / "summary.json").read_text()
    assert main([*cmd, "--resume", "auto"]) == 0
    assert main([*cmd, "--resume", "auto", "run.probe_after=false"]) == 0
    assert "already finished at step 2; nothing to do" in capsys.readouterr().out
    assert len(probed) == 1 and (out / "summary.json").read_text() == before
    (out / "report.json").unlink()  # killed during the closing evaluation
    assert main([*cmd, "--resume", "auto"]) == 0 and len(probed) == 2
