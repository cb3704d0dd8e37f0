"""Images as static clips (the image datasets of the linear-probe table)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sigma_video.cli import main
from sigma_video.data.annotations import read_folder, read_records
from sigma_video.data.dataset import ClipConfig, VideoClips
from sigma_video.data.decode import DecodeError, ImageFile
from sigma_video.data.eval_clips import EvalClips


def image_folder(root, per_class=6):
    """Two classes: reddish and bluish images of different sizes."""
    rng = np.random.default_rng(0)
    for label, channel in enumerate((0, 2)):
        (root / f"class{label}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (40 + 4 * i, 48, 3), dtype=np.uint8)
            pixels[..., channel] = 200
            Image.fromarray(pixels).save(root / f"class{label}" / f"{i}.png")
    return root


def test_an_image_is_a_static_clip(tmp_path):
    root = image_folder(tmp_path / "images")
    records, classes = read_folder(root)
    assert classes == ["class0", "class1"] and len(records) == 12
    assert all(r.is_image for r in records) and records[-1].label == 1
    item = VideoClips(records, ClipConfig(num_frames=4, stride=2, size=32, crop="center"))[0]
    video = item["video"]  # (1, 3, 4, 32, 32)
    assert video.shape == (1, 3, 4, 32, 32)
    assert all(torch.equal(video[:, :, t], video[:, :, 0]) for t in range(4))
    views = EvalClips(records, ClipConfig(num_frames=4, size=32, crop="center"), 2, 3)[0]
    assert views["video"].shape == (6, 3, 4, 32, 32)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DecodeError, match="unreadable image"):
        ImageFile().decode(str(broken), [0, 0])


def test_probe_and_knn_on_image_folders(tmp_path, capsys):
    train = image_folder(tmp_path / "train")
    val = image_folder(tmp_path / "val", per_class=3)
    common = ["--checkpoint", "random:demo", "--train", str(train), "--val", str(val)]
    common += ["--workers", "0", "--cache-dir", str(tmp_path / "cache")]
    assert main(["probe", *common]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["num_train"] == 12 and result["num_val"] == 6
    assert result["top1"] == 100.0  # colour separates the classes even for a random encoder
    assert main(["knn", *common]) == 0
    knn = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert knn["top1_k20"] == 100.0 and "top1" not in knn  # k named: no bare top1 for k = 200
    assert len(read_records(train)) == 12


def test_probe_with_augmentation_on_the_fly_and_bad_settings(tmp_path, capsys):
    train = image_folder(tmp_path / "train")
    val = image_folder(tmp_path / "val", per_class=3)
    common = ["--checkpoint", "random:demo", "--train", str(train), "--val", str(val)]
    common += ["--workers", "0", "--cache-dir", str(tmp_path / "cache")]
    out = tmp_path / "out"
    settings = ["augment=true", "epochs=4", "batch_size=4", "lr=1e-2"]
    assert main(["probe", *common, "--output", str(out), *settings]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["augment"] and result["epochs"] == 4 and result["num_train"] == 12
    assert result["top1"] >= 100 * 5 / 6 - 0.01  # 6 val images, colour-separable
    assert "probe epoch 4/4" in captured.err
    assert json.loads((out / "result.json").read_text()) == result
    # 12 clips in batches of 11: the lone last clip is dropped (BatchNorm needs two)
    assert main(["probe", *common, "augment=true", "epochs=1", "batch_size=11"]) == 0
    capsys.readouterr()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as info:
        main(["probe", *common, "--output", str(blocker / "sub")])
    assert info.value.code == 2 and "cannot write to" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["probe", *common, "epoch=3"])
    assert info.value.code == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err
