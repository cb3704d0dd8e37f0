import math

import numpy as np
import pytest

from sigma_video.engine.schedule import cosine_schedule


def reference_cosine_scheduler(base, final, epochs, steps_per_epoch, warmup_epochs, start):
    """VideoMAE's ``utils.cosine_scheduler``, written out with numpy."""
    warmup_iters = warmup_epochs * steps_per_epoch
    warmup = np.linspace(start, base, warmup_iters) if warmup_iters > 0 else np.array([])
    iters = np.arange(epochs * steps_per_epoch - warmup_iters)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warmup, cosine))


@pytest.mark.parametrize(("epochs", "per_epoch", "warmup"), [(10, 7, 2), (5, 3, 0), (4, 10, 4)])
def test_matches_the_reference_scheduler(epochs, per_epoch, warmup):
    expected = reference_cosine_scheduler(1e-3, 1e-5, epochs, per_epoch, warmup, 1e-6)
    total, warm = epochs * per_epoch, warmup * per_epoch
    ours = [cosine_schedule(s, total, warm, 1e-3, 1e-5, 1e-6) for s in range(total)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=0)


def test_hand_values():
    assert cosine_schedule(0, 10, 3, 1.0, 0.0, 0.5) == 0.5
    assert cosine_schedule(2, 10, 3, 1.0, 0.0, 0.5) == 1.0  # warm-up ends on the base value
    assert cosine_schedule(3, 10, 3, 1.0, 0.0) == 1.0  # cosine starts at the base value
    assert math.isclose(cosine_schedule(3 + 7 / 2, 10, 3, 1.0, 0.0), 0.5)  # half way
    assert cosine_schedule(10, 10, 3, 1.0, 0.1) == 0.1  # after the end: final


@pytest.mark.parametrize("preset", ["vit_b_k400_mlp", "vit_s_ssv2_dino", "vit_b_ssv2_videomae"])
def test_paper_presets_warm_up_from_zero_as_the_official_scripts(preset):
    """run_mae_pretraining never passes ``start_warmup_value``: the official warm-up is
    ``linspace(0, base_lr, warmup_steps)``; ours must be the same sequence."""
    from sigma_video.engine.plan import make_plan
    from sigma_video.pretraining.config import load_pretrain_config

    optim = load_pretrain_config(preset).optim
    plan = make_plan(optim, num_samples=240_000, world=8)  # 8 GPUs × 32: global batch 256
    assert plan.lr == optim.base_lr and plan.warmup_steps == 40 * plan.steps_per_epoch
    expected = reference_cosine_scheduler(
        plan.lr, plan.min_lr, optim.epochs, plan.steps_per_epoch, 40, 0
    )
    steps = [0, 1, plan.warmup_steps - 1, plan.warmup_steps, plan.total_steps - 1]
    ours = [
        cosine_schedule(
            s, plan.total_steps, plan.warmup_steps, plan.lr, plan.min_lr, plan.warmup_lr
        )
        for s in steps
    ]
    np.testing.assert_allclose(ours, expected[steps], rtol=1e-12, atol=0)
    assert ours[0] == 0.0
