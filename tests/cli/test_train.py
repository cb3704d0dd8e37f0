"""``sigma-video pretrain``: what the command does around the run (the run itself is
``pretraining.trainer.pretrain``, tested in ``tests/pretraining``)."""

import pytest

import sigma_video.evaluation.report as report
import sigma_video.pretraining.trainer as trainer
from sigma_video.cli import main


@pytest.mark.parametrize("probe_after", [False, True])
def test_probe_after_probes_the_finished_demo_run(tmp_path, monkeypatch, probe_after):
    """``run.probe_after`` (the demo preset's): a run on the embedded dataset ends with the
    linear-probe report of its encoder (``probe_report``; the run here is a stand-in)."""
    probed = []
    summary = {"stopped_by": None, "steps_this_session": 4, "run_dir": str(tmp_path / "run")}
    monkeypatch.setattr(trainer, "pretrain", lambda config, **kwargs: summary)
    monkeypatch.setattr(report, "probe_report", probed.append)
    flag = f"run.probe_after={str(probe_after).lower()}"
    assert main(["pretrain", "--output", str(tmp_path / "run"), flag]) == 0
    assert probed == ([str(tmp_path / "run")] if probe_after else [])
