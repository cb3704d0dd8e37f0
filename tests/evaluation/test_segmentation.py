import json
import shutil

import numpy as np
import pytest
from PIL import Image

from sigma_video.cli import main
from sigma_video.evaluation.segmentation import (
    VOSSequence,
    davis_sequences,
    evaluate_segmentation,
    find_sequences,
    kmeans_labels,
    load_sequence,
    reduce_tubes,
    segment_clip,
    upsample,
)
from sigma_video.evaluation.settings import SegmentConfig
from sigma_video.io import load_model


def test_upsample_by_hand():
    labels = np.array([[[0, 1], [2, 3]], [[4, 5], [6, 7]]])  # (T'=2, 2, 2)
    out = upsample(labels, (4, 4, 4))
    assert out.shape == (4, 4, 4)
    assert out[0, 0].tolist() == [0, 0, 1, 1] and out[1, 3].tolist() == [2, 2, 3, 3]
    assert out[2, 0, 0] == 4 and out[3, 3, 3] == 7


def test_clustering_separates_two_feature_groups():
    rng = np.random.default_rng(0)
    features = np.concatenate(
        [rng.normal(0, 0.1, (1, 2, 4, 8)), rng.normal(3, 0.1, (1, 2, 4, 8))], axis=1
    )
    reduced = reduce_tubes(features, SegmentConfig())  # (16 tubes, <= 50 dims)
    labels = kmeans_labels(reduced, 2, SegmentConfig()).reshape(features.shape[:-1])
    assert len(set(labels[0, :2].ravel())) == 1 and labels[0, 0, 0] != labels[0, 2, 0]
    with pytest.raises(ValueError, match="only 16 tubes"):
        kmeans_labels(reduced, 17, SegmentConfig())


def test_segmentation_on_the_generated_davis_layout(synth_root, tmp_path, capsys):
    from sigma_video.evaluation.protocol import segment_protocol

    result = segment_protocol(  # the demo encoder's own size: 64
        "random:demo", synth_root / "davis", overlays=tmp_path / "ovl", max_sequences=2
    )
    assert (
        result["clips"] == 4
        and 0 < result["miou_clustering"] <= result["miou_overclustering"] + 0.5
    )
    assert len(list((tmp_path / "ovl").rglob("*.gif"))) == 4
    per = result["per_sequence"]
    assert sorted(per) == ["val00000", "val00001"]  # 2 clips each: the mean is over all 4
    mean = sum(v["clustering"] for v in per.values()) / 2
    assert abs(mean - result["miou_clustering"]) < 1e-9
    code = main(
        [
            "segment",
            "--checkpoint",
            "random:demo",
            "--davis",
            str(synth_root / "davis"),
            "--max-sequences",
            "2",
        ]
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and last["clips"] == 4  # the command prints mIoU in percent
    for key in ("miou_clustering", "miou_overclustering"):
        assert last[key] == pytest.approx(100 * result[key], abs=0.005)
    assert last["per_sequence"]["val00001"]["clustering"] == pytest.approx(
        100 * per["val00001"]["clustering"], abs=0.005
    )


def test_missing_annotations_and_bad_folders(synth_root, tmp_path):
    davis = tmp_path / "davis"
    shutil.copytree(synth_root / "davis", davis)
    name = (davis / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    (davis / "Annotations" / "480p" / name / "00003.png").unlink()
    with pytest.raises(ValueError, match="32 frames but 31 annotations"):
        davis_sequences(davis)
    encoder, _ = load_model("random:demo")
    with pytest.raises(ValueError, match="not a DAVIS-2017 folder"):
        evaluate_segmentation(encoder, tmp_path / "nowhere", 64)
    with pytest.raises(ValueError, match=r"neither a DAVIS-2017 folder .* nor a YouTube-VOS"):
        evaluate_segmentation(encoder, tmp_path, 64)
    sequence = davis_sequences(synth_root / "davis")[0]
    small = tmp_path / "small.png"
    Image.open(sequence.masks[0]).resize((8, 8)).save(small)
    with pytest.raises(ValueError, match="differ in size"):
        load_sequence(VOSSequence("x", sequence.frames[:1], (small,)))


def make_ytvos(davis, root, every=2):
    """The generated DAVIS videos in the YouTube-VOS layout, every other frame annotated
    (as the sparse annotations of YouTube-VOS 'train')."""
    split = root / "train"
    videos = {}
    for sequence in davis_sequences(davis)[:2]:
        (split / "JPEGImages" / sequence.name).mkdir(parents=True)
        (split / "Annotations" / sequence.name).mkdir(parents=True)
        for i, (frame, mask) in enumerate(zip(sequence.frames, sequence.masks, strict=True)):
            shutil.copy(frame, split / "JPEGImages" / sequence.name / frame.name)
            if i % every == 0:
                shutil.copy(mask, split / "Annotations" / sequence.name / mask.name)
        videos[sequence.name] = {"objects": {"1": {}, "2": {}}}
    (split / "meta.json").write_text(json.dumps({"videos": videos}))
    return root


def test_youtube_vos_layout_uses_the_annotated_frames(synth_root, tmp_path):
    root = make_ytvos(synth_root / "davis", tmp_path / "ytvos")
    layout, sequences = find_sequences(root, "train")
    assert layout == "ytvos" and len(sequences) == 2
    assert len(sequences[0].frames) == 16  # 32 frames, every other one annotated
    assert [f.stem for f in sequences[0].frames] == [m.stem for m in sequences[0].masks]
    encoder, _ = load_model("random:demo")
    config = SegmentConfig(clip_len=4)
    result = evaluate_segmentation(encoder, root, 64, "train", config)
    assert result["layout"] == "ytvos" and result["clips"] == 8  # 2 videos × 16/4
    assert 0 < result["miou_clustering"] <= 1 and 0 < result["miou_overclustering"] <= 1
    with pytest.raises(ValueError, match="YouTube-VOS 'valid' annotates only first frames"):
        evaluate_segmentation(
            encoder,
            make_ytvos(synth_root / "davis", tmp_path / "s", 16),
            64,
            "train",
            SegmentConfig(clip_len=4),
        )


def test_clip_segment_ids_are_made_consecutive(synth_root):
    # object ids 0 and 2 only: the clustering protocol must use K = 2, not 3
    encoder, _ = load_model("random:demo")
    frames = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    frames[:, 8:24, 8:24] = 255
    ids = np.zeros((4, 32, 32), dtype=np.uint8)
    ids[:, 8:24, 8:24] = 2
    result = segment_clip(encoder, frames, ids, 64, SegmentConfig(clip_len=4, overclusters=4))
    assert result["maps"].max() <= 1 and result["miou_clustering"] == pytest.approx(1.0)
