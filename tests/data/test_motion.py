"""Codec motion vectors -> per-pixel motion maps, by hand."""

import numpy as np

from sigma_video.data.motion import motion_magnitude

FIELDS = [
    ("source", "i4"),
    ("w", "u1"),
    ("h", "u1"),
    ("src_x", "i2"),
    ("src_y", "i2"),
    ("dst_x", "i2"),
    ("dst_y", "i2"),
    ("flags", "u8"),
    ("motion_x", "i4"),
    ("motion_y", "i4"),
    ("motion_scale", "u2"),
]


def vectors(*rows):
    """Rows of (w, h, dst_x, dst_y, motion_x, motion_y, motion_scale), in PyAV's layout."""
    out = np.zeros(len(rows), dtype=FIELDS)
    names = ("w", "h", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")
    for i, row in enumerate(rows):
        for name, value in zip(names, row, strict=True):
            out[name][i] = value
    return out


def test_motion_magnitude_by_hand():
    rows = vectors(
        (16, 16, 8, 8, -20, 0, 4),  # block [0:16, 0:16] moved 5 px
        (8, 8, 20, 4, 12, 16, 4),  # rows 0:8, cols 16:24 moved |(3, 4)| = 5 px
        (8, 8, 12, 4, 0, 28, 4),  # rows 0:8, cols 8:16 moved 7 px: wins over the 5 under it
        (16, 16, 24, 24, 0, 0, 4),  # a static block: nothing
    )
    got = motion_magnitude(rows, 32, 32)
    want = np.zeros((32, 32), np.float32)
    want[0:16, 0:16] = 5
    want[0:8, 16:24] = 5
    want[0:8, 8:16] = 7
    np.testing.assert_array_equal(got, want)
    assert motion_magnitude(None, 4, 6).shape == (4, 6) and not motion_magnitude(None, 4, 6).any()
