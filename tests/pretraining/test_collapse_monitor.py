"""The collapse monitor: exact signals, one warning after N collapsed windows, none when healthy."""

import math

import pytest

from sigma_video.pretraining.collapse import CollapseMonitor, CollapseThresholds, collapse_signals

HEALTHY = {"feature_spread": 0.05, "prototypes_in_use": 200.0, "score_usage_entropy": 4.0}
COLLAPSED = {"feature_spread": 0.002, "prototypes_in_use": 36.0, "score_usage_entropy": 0.0}


def test_signals_are_normalised_by_dimension_prototypes_and_tubes():
    s = collapse_signals(COLLAPSED, dim=256, num_prototypes=256, tubes_per_batch=1000)
    assert s["spread"] == pytest.approx(0.002 * 16)
    assert s["usage"] == pytest.approx(36 / 256)
    assert s["score_entropy"] == 0.0
    # fewer masked tubes than prototypes: at most that many prototypes can be used
    s = collapse_signals(HEALTHY, dim=256, num_prototypes=256, tubes_per_batch=100)
    assert s["usage"] == pytest.approx(2.0)
    assert s["score_entropy"] == pytest.approx(4.0 / math.log(256))
    # an objective without prototypes (L2) is judged on the spread only
    assert collapse_signals({"feature_spread": 0.01}, 64, None, 10) == {"spread": 0.08}


def test_warns_once_when_the_mean_over_the_last_windows_is_low():
    monitor = CollapseMonitor(256, 256, 1000, CollapseThresholds(windows=3))
    assert monitor.update(10, COLLAPSED) is None
    assert monitor.update(20, COLLAPSED) is None  # fewer windows than asked: not yet judged
    # a healthy window lifts the mean of the last three above every threshold:
    # spread (0.8 + 0.032 + 0.032) / 3 = 0.29, score entropy 4/ln 256 / 3 = 0.24
    assert monitor.update(30, HEALTHY) is None
    assert monitor.update(40, COLLAPSED) is None
    assert monitor.update(50, COLLAPSED) is None  # still one healthy window in the three
    message = monitor.update(60, COLLAPSED)
    assert message is not None and "step 60" in message and "spread 0.032 < 0.1" in message
    assert "mean of 3 log windows" in message
    assert "\n" not in message and "optim.base_lr" in message
    assert monitor.warning == {
        "step": 60,
        "windows": 3,
        "spread": 0.032,
        "score_entropy": 0.0,
    }  # usage 36/256 = 0.14 is above its threshold: only the low signals are named
    assert monitor.update(70, COLLAPSED) is None  # said once per run


def test_a_dip_that_recovers_is_not_a_collapse():
    """The first 130 steps of the score entropy of a run that learned well (BENCHMARKS, lr
    3e-4 on the demo data), then a steady tail like its own: it drops below 0.05 for 7
    windows as the warm-up ends and recovers; the mean over 10 windows never falls below
    0.05, so no warning (the old rule, 3 low windows in a row, warned here)."""
    curve = [0.83, 0.71, 0.33, 0.27, 0.19, 0.02, 0.01, 0.00, 0.03, 0.02, 0.02, 0.07, 0.26]
    curve += [0.29, 0.28, 0.22, 0.16, 0.15, 0.13, 0.12] * 3
    monitor = CollapseMonitor(256, 256, 1000)
    for step, share in enumerate(curve):
        window = {**HEALTHY, "score_usage_entropy": share * math.log(256)}
        assert monitor.update(10 * step, window) is None
    stuck = {**HEALTHY, "score_usage_entropy": 0.0}
    assert any(monitor.update(1000 + step, stuck) for step in range(10))  # one that stays


def test_a_healthy_run_is_never_warned():
    monitor = CollapseMonitor(256, 256, 1000, CollapseThresholds(windows=1))
    assert all(monitor.update(step, HEALTHY) is None for step in range(100))
    assert monitor.warning is None


def test_bad_window_count():
    with pytest.raises(ValueError, match="windows"):
        CollapseMonitor(8, 4, 4, CollapseThresholds(windows=0))
