"""The optimizer step of ``engine.loop``: gradient clipping and the logged norm."""

import json

import torch
from torch import nn

from sigma_video.engine.loop import _clip
from sigma_video.pretraining.trainer import pretrain
from tests.pretraining.test_trainer import tiny


def _model_with_grads() -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    torch.manual_seed(0)
    for p in model.parameters():
        p.grad = torch.randn_like(p, dtype=torch.float64).float()
    return model


def test_clip_grad_clips():
    """``optim.clip_grad``: the gradients are scaled to that total norm, and the returned
    (logged) norm is the one before clipping."""
    model = _model_with_grads()
    grads = [p.grad.clone() for p in model.parameters()]
    before = torch.cat([g.flatten() for g in grads]).double().norm()
    assert before > 0.5
    norm = _clip(model, 0.5)
    assert float(norm) == float(before.float()) or abs(float(norm) - float(before)) < 1e-5
    after = torch.cat([p.grad.flatten() for p in model.parameters()]).double().norm()
    assert abs(float(after) - 0.5) < 1e-5
    for p, g in zip(model.parameters(), grads, strict=True):  # the same direction
        torch.testing.assert_close(p.grad, g * (0.5 / before).float(), rtol=1e-5, atol=1e-7)
    # no clipping asked: the norm only, gradients untouched
    model = _model_with_grads()
    grads = [p.grad.clone() for p in model.parameters()]
    assert abs(float(_clip(model, None)) - float(before)) < 1e-5
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))


def test_clipped_run_logs_the_norm_before_clipping(synth_root, tmp_path):
    """Through a run: the logged ``grad_norm`` with clipping on is the unclipped norm (the
    first step's gradients are the same in both runs), and clipping changes the update."""
    log = lambda _: None  # noqa: E731
    pretrain(tiny(synth_root, tmp_path / "plain", "optim.max_steps=2"), log=log)
    clipped = tiny(synth_root, tmp_path / "clipped", "optim.max_steps=2", "optim.clip_grad=1e-6")
    pretrain(clipped, log=log)

    def rows(run):
        return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]

    plain, clip = rows(tmp_path / "plain"), rows(tmp_path / "clipped")
    assert clip[0]["grad_norm"] > 1e-3
    assert abs(clip[0]["grad_norm"] - plain[0]["grad_norm"]) <= 1e-5 * plain[0]["grad_norm"]
    assert clip[1]["loss"] != plain[1]["loss"]  # the clipped update moved the weights less


def test_clips_per_s_counts_all_ranks():
    """One meaning of ``clips_per_s`` (all ranks' clips per second) in the summary and in
    each log window, with the world size beside it."""
    from sigma_video.engine.distributed import DistInfo
    from sigma_video.engine.metrics import MetricsWindow, run_summary

    session = {"start_step": 0, "end_step": 10, "seconds": 5.0, "stopped_by": None}
    summary = run_summary(
        run_dir="r",
        session=session,
        previous={},
        global_batch=8,  # 4 per rank × 2 ranks
        world_size=2,
        losses=[1.0],
        collapse_warning=None,
    )
    assert summary["clips_per_s"] == 16.0 and summary["world_size"] == 2
    window = MetricsWindow()
    window.add({}, 4)  # this rank's clips
    window.started -= 1.0  # one second ago
    scalars = window.flush(0.1, DistInfo(rank=0, world_size=1))
    assert abs(scalars["clips_per_s"] - 4.0) < 0.1 and scalars["world_size"] == 1.0
