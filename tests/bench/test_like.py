"""Files shaped like K400 / K400 raw / SSv2, and the decode that skips unneeded frames."""

import random

import av
import numpy as np
import pytest

from sigma_video.bench.like import LIKE, write_like
from sigma_video.data.decode import PyAVBackend
from sigma_video.data.sampling import random_clip_indices


@pytest.fixture(scope="module")
def like_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("like")
    return {kind: write_like(kind, folder, count=1, seconds=3.0) for kind in LIKE}


def test_the_files_are_shaped_like_the_datasets(like_files):
    for kind, paths in like_files.items():
        spec = LIKE[kind]
        with av.open(str(paths[0])) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (spec.width, spec.height)
            assert stream.codec_context.name == {"libx264": "h264", "libvpx-vp9": "vp9"}[spec.codec]
            assert float(stream.average_rate) == spec.fps
            packets = [p for p in container.demux(stream) if p.size]
        assert len(packets) == round(3.0 * spec.fps)
        gop = int(dict(spec.options).get("g", 250))  # FFmpeg's default: 250
        assert packets[0].is_keyframe
        assert sum(p.is_keyframe for p in packets) == -(-len(packets) // gop)


@pytest.mark.parametrize("kind", sorted(LIKE))
def test_skipping_unreferenced_frames_keeps_the_frames_bit_exact(like_files, kind):
    fast, plain = PyAVBackend(), PyAVBackend(skip_nonref=False)
    rng = random.Random(0)
    for path in like_files[kind]:
        count = plain.num_frames(str(path))
        for _ in range(4):
            indices = random_clip_indices(count, 8, LIKE[kind].stride, rng, "repeat")
            np.testing.assert_array_equal(
                fast.decode(str(path), indices), plain.decode(str(path), indices)
            )


@pytest.mark.parametrize("kind", ["k400", "ssv2"])
def test_the_shared_colour_converter_matches_pyav(like_files, kind):
    path = str(like_files[kind][0])
    with av.open(path) as container:
        plain = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][:12]
    np.testing.assert_array_equal(PyAVBackend().decode(path, list(range(12))), np.stack(plain))
