import json
import shutil

import numpy as np
import pytest

from sigma_video.cli import main
from sigma_video.evaluation import load_encoder
from sigma_video.evaluation.segmentation import (
    SegmentConfig,
    cluster_tubes,
    evaluate_segmentation,
    load_sequence,
    upsample,
)


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
    labels = cluster_tubes(features, 2, SegmentConfig())
    assert len(set(labels[0, :2].ravel())) == 1 and labels[0, 0, 0] != labels[0, 2, 0]
    with pytest.raises(ValueError, match="only 16 tubes"):
        cluster_tubes(features, 17, SegmentConfig())


def test_segmentation_on_the_generated_davis_layout(synth_root, tmp_path, capsys):
    encoder, _ = load_encoder("random:demo")
    result = evaluate_segmentation(
        encoder, synth_root / "davis", 64, overlays=tmp_path / "ovl", max_sequences=2
    )
    assert (
        result["clips"] == 4
        and 0 < result["miou_clustering"] <= result["miou_overclustering"] + 0.5
    )
    assert len(list((tmp_path / "ovl").rglob("*.gif"))) == 4
    code = main(
        [
            "segment",
            "--checkpoint",
            "random:demo",
            "--davis",
            str(synth_root / "davis"),
            "--max-sequences",
            "1",
        ]
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and {"miou_clustering", "miou_overclustering"} <= last.keys()


def test_missing_annotations_and_bad_folders(synth_root, tmp_path):
    davis = tmp_path / "davis"
    shutil.copytree(synth_root / "davis", davis)
    name = (davis / "ImageSets" / "2017" / "val.txt").read_text().split()[0]
    (davis / "Annotations" / "480p" / name / "00003.png").unlink()
    with pytest.raises(ValueError, match="32 frames but 31 annotations"):
        load_sequence(davis, name)
    encoder, _ = load_encoder("random:demo")
    with pytest.raises(ValueError, match="not a DAVIS-2017 folder"):
        evaluate_segmentation(encoder, tmp_path, 64)
