"""The collapse monitor: exact signals, one warning after N collapsed windows, none when healthy."""

import math

import pytest

from sigma_video.engine.collapse import CollapseMonitor, CollapseThresholds, collapse_signals

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


def test_warns_once_after_the_configured_number_of_collapsed_windows():
    monitor = CollapseMonitor(256, 256, 1000, CollapseThresholds(windows=3))
    assert monitor.update(10, COLLAPSED) is None
    assert monitor.update(20, COLLAPSED) is None
    assert monitor.update(30, HEALTHY) is None  # the streak starts again
    assert monitor.update(40, COLLAPSED) is None
    assert monitor.update(50, COLLAPSED) is None
    message = monitor.update(60, COLLAPSED)
    assert message is not None and "step 60" in message and "spread 0.032 < 0.1" in message
    assert "\n" not in message and "num_prototypes" in message
    assert monitor.warning == {
        "step": 60,
        "windows": 3,
        "spread": 0.032,
        "score_entropy": 0.0,
    }  # usage 36/256 = 0.14 is above its threshold: only the low signals are named
    assert monitor.update(70, COLLAPSED) is None  # said once per run


def test_a_healthy_run_is_never_warned():
    monitor = CollapseMonitor(256, 256, 1000, CollapseThresholds(windows=1))
    assert all(monitor.update(step, HEALTHY) is None for step in range(100))
    assert monitor.warning is None


def test_bad_window_count():
    with pytest.raises(ValueError, match="windows"):
        CollapseMonitor(8, 4, 4, CollapseThresholds(windows=0))
