import os
import shutil

import av
import numpy as np
import pytest
from PIL import Image

from sigma_video.data.decode import (
    DecodeError,
    FrameFolder,
    PyAVBackend,
    available_backends,
    get_backend,
)


def all_frames(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.parametrize("name", ["bikes", "bigbuckbunny", "carphone_pristine"])
def test_pyav_decodes_exactly_the_requested_frames(sample_videos, name):
    path = str(sample_videos[name])
    reference = all_frames(path)
    backend = PyAVBackend()
    assert backend.num_frames(path) == len(reference)
    n = len(reference)
    for indices in ([0, 4, 8], [n // 2, n // 2 + 4, n - 10], [n - 1, n - 1], [7, 3, 7]):
        out = backend.decode(path, indices)
        assert out.dtype == np.uint8 and out.shape == (len(indices), *reference[0].shape)
        for row, index in zip(out, indices, strict=True):
            assert np.array_equal(row, reference[index])


def test_index_past_the_end_takes_the_last_frame(sample_videos):
    path = str(sample_videos["carphone_pristine"])
    out = PyAVBackend().decode(path, [118, 119, 500])
    assert np.array_equal(out[2], out[1])


def test_frame_folder(tmp_path, sample_videos):
    frames = all_frames(sample_videos["carphone_pristine"])[:5]
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"img_{i + 1:05d}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    folder = FrameFolder()
    assert folder.num_frames(str(tmp_path)) == 5
    out = folder.decode(str(tmp_path), [4, 0, 9])
    assert np.array_equal(out[0], frames[4]) and np.array_equal(out[1], frames[0])
    assert np.array_equal(out[2], frames[4])


def _audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_bad_files(folder, sample_videos):
    data = sample_videos["bikes"].read_bytes()
    files = {
        "missing": folder / "missing.mp4",
        "empty": folder / "empty.mp4",
        "truncated": folder / "truncated.mp4",  # the moov atom at the end is cut off
        "random": folder / "random.mp4",
        "audio": folder / "audio.m4a",
    }
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(data[: len(data) // 3])
    files["random"].write_bytes(np.random.default_rng(0).bytes(50_000))
    _audio_only(files["audio"])
    return files


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "not found"),
        ("empty", "empty file"),
        ("truncated", "cannot open|corrupt"),
        ("random", "cannot open"),
        ("audio", "no video stream"),
    ],
)
@pytest.mark.parametrize("call", ["num_frames", "decode"])
def test_bad_files_raise_decode_error(tmp_path, sample_videos, kind, reason, call):
    path = str(make_bad_files(tmp_path, sample_videos)[kind])
    backend = PyAVBackend()
    with pytest.raises(DecodeError, match=reason) as err:
        backend.num_frames(path) if call == "num_frames" else backend.decode(path, [0, 1])
    assert err.value.path == path and "\n" not in str(err.value)


def test_truncated_media_data_is_decoded_or_refused_never_crashes(tmp_path, sample_videos):
    # header first (faststart) so it survives; then cut the media data in half
    fast = tmp_path / "fast.mp4"
    with (
        av.open(str(sample_videos["bikes"])) as inp,
        av.open(str(fast), "w", options={"movflags": "faststart"}) as out,
    ):
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fast.read_bytes()[: os.path.getsize(fast) // 2])
    backend = PyAVBackend()
    n = backend.num_frames(str(cut))  # the header still claims every frame
    assert n == 250
    try:
        out = backend.decode(str(cut), [0, n // 2, n - 1])
    except DecodeError as err:
        assert "corrupt" in err.reason or "no decodable" in err.reason
        return
    assert out.shape[0] == 3  # frames past the cut repeat the last decodable one


def test_unreadable_permissions(tmp_path, sample_videos, monkeypatch):
    path = tmp_path / "locked.mp4"
    shutil.copy(sample_videos["carphone_pristine"], path)
    path.chmod(0)
    if os.access(path, os.R_OK):  # running as root: simulate what an ordinary user gets
        monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(DecodeError, match="permission denied"):
        PyAVBackend().decode(str(path), [0])


def test_time_limit(sample_videos):
    path = str(sample_videos["bigbuckbunny"])  # 132 frames of 1280×720 in one GOP: ~0.2 s
    with pytest.raises(DecodeError, match="opening took longer than"):
        PyAVBackend(time_limit=0.0).decode(path, [100])
    with pytest.raises(DecodeError, match=r"decoding took longer than 0\.02 s"):
        PyAVBackend(time_limit=0.02).decode(path, [131])


def test_backend_registry():
    assert available_backends()[0] == "pyav"
    assert get_backend("pyav").name == "pyav"
    with pytest.raises(ValueError, match="unknown video backend"):
        get_backend("opencv")
