import json

import numpy as np
import pytest
from PIL import Image

from sigma_video.data.decode import PyAVBackend
from sigma_video.files import umask_mode
from sigma_video.synth.dataset import write_dataset
from sigma_video.synth.render import render
from sigma_video.synth.spec import (
    APPEARANCE_CLASSES,
    DISTRACTOR,
    MOTION_CLASSES,
    SynthConfig,
    video_spec,
)

CONFIG = SynthConfig(num_train=16, num_val=8)


def centroid(ids, t, label=1):
    ys, xs = np.nonzero(ids[t] == label)
    return xs.mean(), ys.mean()


@pytest.mark.parametrize("index", range(24))
def test_motion_label_matches_what_the_pixels_do(index):
    """Format 5: the shape travels in its class's direction (60° apart, y down), straight."""
    spec = video_spec(CONFIG, "train", index)
    _, ids = render(spec, CONFIG.frames, CONFIG.size)
    (x0, y0), (x1, y1) = centroid(ids, 0), centroid(ids, CONFIG.frames - 1)
    dx, dy = x1 - x0, y1 - y0
    unit = {
        "right": (1.0, 0.0),
        "down-right": (0.5, 0.866),
        "down-left": (-0.5, 0.866),
        "left": (-1.0, 0.0),
        "up-left": (-0.5, -0.866),
        "up-right": (0.5, -0.866),
    }[MOTION_CLASSES[spec.motion]]
    along = dx * unit[0] + dy * unit[1]
    across = -dx * unit[1] + dy * unit[0]
    assert along > 0.08 * CONFIG.size and abs(across) < 1.0, (spec.motion, dx, dy)
    # the whole path stays inside the frame: the object keeps its area
    assert abs(int((ids[0] == 1).sum()) - int((ids[-1] == 1).sum())) < 0.1 * (ids[0] == 1).sum()


def test_generation_is_deterministic_and_labels_cover_classes():
    a = render(video_spec(CONFIG, "val", 3), 8, 64)
    b = render(video_spec(CONFIG, "val", 3), 8, 64)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    specs = [video_spec(SynthConfig(), "train", i) for i in range(240)]
    assert {s.motion for s in specs} == set(range(len(MOTION_CLASSES)))
    assert {s.main.shape for s in specs} == set(range(len(APPEARANCE_CLASSES)))


def test_each_appearance_class_shows_its_grey_texture_in_every_tube_and_the_distractor_is_plain():
    """Formats 4–5: the class shows in every 6×6 window of a 64² clip inside the object (both
    grey levels of its texture; the ring is 6–8 pixels thick), in grey only, so neither
    the hue nor the distractor (a plain ellipse, no class's outline) can stand in for it."""
    config = SynthConfig(size=64)  # the textures scale with the frame size
    seen, plain = set(), 0
    for index in range(60):
        spec = video_spec(config, "train", index)
        rgb, ids = render(spec, 1, 64)
        frame, inside = rgb[0].astype(int), ids[0] == 1
        assert (frame[inside, 0] == frame[inside, 1]).all()
        assert (frame[inside, 1] == frame[inside, 2]).all()
        blocks = [
            np.unique(frame[y : y + 6, x : x + 6, 0])
            for y in range(0, 59, 2)
            for x in range(0, 59, 2)
            if inside[y : y + 6, x : x + 6].all()
        ]  # every 6×6 window inside the object, wherever the 8×8 tube grid falls
        assert all(len(levels) == 2 for levels in blocks), APPEARANCE_CLASSES[spec.main.shape]
        if blocks:
            seen.add(spec.main.shape)
        if spec.distractor is not None:
            assert spec.distractor.shape == DISTRACTOR
            colours = np.unique(rgb[0][ids[0] == 2], axis=0)
            assert len(colours) <= 1  # one colour where it shows (the shape may hide it)
            plain += len(colours)
    assert seen == set(range(len(APPEARANCE_CLASSES)))
    assert plain > 10  # distractors seen, each in one colour


def test_format_2_look_is_still_available():
    spec = video_spec(SynthConfig(pattern="stripes"), "train", 0)
    assert spec.main.pattern == "stripes"
    rgb, ids = render(spec, 2, 96)
    main = rgb[0][ids[0] == 1].astype(int)
    assert not (main[:, 0] == main[:, 1]).all()  # random hues
    with pytest.raises(ValueError, match="pattern"):
        SynthConfig(pattern="plaid")
    with pytest.raises(ValueError, match="object_colours"):
        SynthConfig(object_colours="mauve")


def test_written_dataset(synth_root):
    lines = (synth_root / "train.csv").read_text().splitlines()
    appearance = (synth_root / "train_appearance.csv").read_text().splitlines()
    assert len(lines) == 16 and len(appearance) == 16
    path, label = lines[0].rsplit(" ", 1)
    assert int(label) == video_spec(CONFIG, "train", 0).motion
    backend = PyAVBackend()
    assert backend.num_frames(str(synth_root / path)) == CONFIG.frames
    frames = backend.decode(str(synth_root / path), [0, 31])
    expected, _ = render(video_spec(CONFIG, "train", 0), CONFIG.frames, CONFIG.size)
    assert np.abs(frames.astype(int) - expected[[0, 31]].astype(int)).mean() < 6  # lossy H.264
    meta = json.loads((synth_root / "classes.json").read_text())
    assert meta["motion_classes"] == list(MOTION_CLASSES)


def test_davis_layout_with_palette_masks(synth_root):
    davis = synth_root / "davis"
    names = (davis / "ImageSets" / "2017" / "val.txt").read_text().split()
    assert len(names) == 8
    mask = Image.open(davis / "Annotations" / "480p" / names[0] / "00000.png")
    assert mask.mode == "P" and mask.getpalette()[3:6] == [128, 0, 0]
    _, ids = render(video_spec(CONFIG, "val", 0), CONFIG.frames, CONFIG.size)
    assert np.array_equal(np.asarray(mask), ids[0])
    assert len(list((davis / "JPEGImages" / "480p" / names[0]).glob("*.jpg"))) == CONFIG.frames


def test_existing_dataset_is_reused(synth_root):
    before = (synth_root / "train.csv").stat().st_mtime_ns
    write_dataset(synth_root, CONFIG)
    assert (synth_root / "train.csv").stat().st_mtime_ns == before


def test_bad_config():
    with pytest.raises(ValueError, match="size"):
        SynthConfig(size=33)


def test_generation_is_byte_reproducible_on_any_number_of_processes(tmp_path):
    import hashlib

    config = SynthConfig(num_train=3, num_val=2, frames=8, size=64)
    digests = []
    for name, workers in (("a", 1), ("b", 2)):  # one process, or a pool of two
        root = write_dataset(tmp_path / name, config, workers=workers)
        digests.append(
            {
                str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*"))
                if p.is_file()
            }
        )
    assert len(digests[0]) > 10 and digests[0] == digests[1]
    assert (tmp_path / "a").stat().st_mode & 0o777 == umask_mode(directory=True)  # shareable


def test_default_dataset_says_once_that_it_generates(tmp_path, monkeypatch):
    from sigma_video.synth.dataset import default_dataset

    monkeypatch.setenv("SIGMA_VIDEO_CACHE", str(tmp_path))
    config = SynthConfig(num_train=2, num_val=1, frames=4, size=32)
    said: list[str] = []
    root = default_dataset(config, log=said.append)
    assert len(said) == 1 and "2 + 1 videos" in said[0] and str(root) in said[0]
    assert default_dataset(config, log=said.append) == root and len(said) == 1  # cached
