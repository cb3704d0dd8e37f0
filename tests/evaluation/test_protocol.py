"""The protocols as library calls, on tiny features small enough to score by hand (the
feature extraction itself is replaced: the commands' tests run it on real videos)."""

import json

import numpy as np
import pytest
import torch

from sigma_video.evaluation import protocol
from sigma_video.evaluation.knn import knn_accuracy
from sigma_video.evaluation.protocol import (
    in_percent,
    knn_protocol,
    probe_protocol,
    result_line,
    save_features,
    write_result,
)
from sigma_video.evaluation.settings import (
    KNN_KS,
    KNN_TEMPERATURE,
    LBFGS_WEIGHT_DECAY,
    FeatureOptions,
    ProbeSettings,
)

# kNN by hand: three class-1 items around (0, 1), one class-0 item at (1, 0)
BANK = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [-0.1, 1.0]])
BANK_LABELS = torch.tensor([0, 1, 1, 1])
# (1, 0.5), class 1: its nearest item is the class-0 one (cosine 0.89), the next two are
# class 1 (0.53, 0.45); (0.02, 1), class 1: all three nearest are class 1
QUERIES = torch.tensor([[1.0, 0.5], [0.02, 1.0]])
QUERY_LABELS = torch.tensor([1, 1])


def test_knn_accuracy_by_hand():
    # T = 1000: every neighbour votes ~1, so the majority of the k nearest wins
    result = knn_accuracy(BANK, BANK_LABELS, QUERIES, QUERY_LABELS, ks=(1, 3), temperature=1e3)
    assert result == {"num_train": 4, "num_val": 2, "top1_k1": 0.5, "top1_k3": 1.0}
    # T = 0.07: exp(0.89 / T) outweighs exp(0.53 / T) + exp(0.45 / T): the nearest decides
    sharp = knn_accuracy(BANK, BANK_LABELS, QUERIES, QUERY_LABELS, ks=(3,))
    assert sharp["top1_k3"] == 0.5
    assert list(knn_accuracy(BANK, BANK_LABELS, QUERIES, QUERY_LABELS)) == [
        "num_train",
        "num_val",
        *(f"top1_k{k}" for k in KNN_KS),
    ]
    assert (KNN_KS, KNN_TEMPERATURE) == ((20, 200), 0.07)


def lists(folder, train_labels, val_labels):
    """A training and a validation list (``path label`` lines; no video is read here)."""
    paths = []
    for name, labels in (("train", train_labels), ("val", val_labels)):
        path = folder / f"{name}.csv"
        path.write_text("".join(f"{name}/{i}.mp4 {int(y)}\n" for i, y in enumerate(labels)))
        paths.append(str(path))
    return paths


@pytest.fixture
def features(monkeypatch):
    """``features_for`` replaced by fixed features per list; the calls are recorded."""
    table, calls = {}, []

    def features_for(checkpoint, list_path, *args, **kwargs):
        calls.append((checkpoint, list_path, kwargs))
        return table[list_path]

    monkeypatch.setattr(protocol, "features_for", features_for)
    return table, calls


def test_knn_protocol_scores_the_lists_and_writes_the_result(features, tmp_path):
    table, calls = features
    train, val = lists(tmp_path, BANK_LABELS, QUERY_LABELS)
    table.update({train: (BANK, BANK_LABELS), val: (QUERIES, QUERY_LABELS)})
    options = FeatureOptions(num_crops=3, workers=0, device="cpu", cache_dir=tmp_path / "c")
    out = tmp_path / "out"
    result = knn_protocol("random:demo", train, val, options, (1, 3), 1e3, output=out)
    assert result == {"num_train": 4, "num_val": 2, "top1_k1": 0.5, "top1_k3": 1.0}
    assert [c[1] for c in calls] == [train, val]  # the bank first, as the command does
    assert calls[0][2]["device"] == "cpu" and calls[0][2]["cache_dir"] == tmp_path / "c"
    written = (out / "result.json").read_text()
    assert written == result_line("random:demo", result) + "\n"
    assert json.loads(written) == {
        "checkpoint": "random:demo",
        "num_train": 4,
        "num_val": 2,
        "top1_k1": 50.0,
        "top1_k3": 100.0,
    }
    assert sorted(p.name for p in out.iterdir()) == ["result.json"]  # no temporary left


def test_lists_and_output_are_checked_before_any_feature(features, tmp_path):
    _, calls = features
    train, val = lists(tmp_path, [0, 0, 1], [0, 2])
    with pytest.raises(ValueError, match=r"val labels \[2\] never occur in train"):
        knn_protocol("random:demo", train, val)
    with pytest.raises(ValueError, match="labelled lists"):
        probe_protocol("random:demo", *lists(tmp_path, [0, -1], [0]))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    train, val = lists(tmp_path, [0, 1], [0, 1])
    with pytest.raises(ValueError, match="cannot write to"):
        probe_protocol("random:demo", train, val, output=blocker / "sub")
    assert calls == []


def test_probe_protocol_is_the_linear_probe_with_its_settings(features, tmp_path):
    from sigma_video.evaluation.probe import linear_probe

    table, _ = features
    # 1-D, separable at 0: the probe classifies every val item right
    train_x, train_y = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]]), torch.tensor([0, 0, 1, 1])
    val_x, val_y = torch.tensor([[-1.5], [0.5], [1.5]]), torch.tensor([0, 1, 1])
    train, val = lists(tmp_path, train_y, val_y)
    table.update({train: (train_x, train_y), val: (val_x, val_y)})
    result = probe_protocol("random:demo", train, val, options=FeatureOptions(device="cpu"))
    assert result == {"top1": 1.0, "top5": 1.0, "num_train": 4, "num_val": 3, "augment": False}
    # the settings reach the fit (weight decay, iterations)
    settings = ProbeSettings(weight_decay=10.0, max_iter=1)
    shrunk = probe_protocol("random:demo", train, val, settings, FeatureOptions(device="cpu"))
    assert shrunk == {**linear_probe(train_x, train_y, val_x, val_y, 10.0, 1), "augment": False}


def test_probe_settings_defaults():
    assert ProbeSettings().decay == LBFGS_WEIGHT_DECAY == 1e-4
    assert ProbeSettings(augment=True).decay == 0.0
    assert ProbeSettings(augment=True, weight_decay=0.05).decay == 0.05
    with pytest.raises(ValueError, match="crop must be one of"):
        ProbeSettings(crop="diagonal")


def test_save_features_writes_rows_with_their_videos(features, tmp_path):
    table, _ = features
    _, val = lists(tmp_path, [], [3, 1])
    table[val] = (torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([3, 1]))
    target = tmp_path / "sub" / "f.npz"
    options = FeatureOptions(data_root=str(tmp_path / "videos"), device="cpu")
    summary = save_features("random:demo", val, target, options)
    assert summary == {"output": str(target), "num": 2, "features": [2, 2], "labels": [2]}
    arrays = np.load(target)
    np.testing.assert_array_equal(arrays["features"], [[1.0, 2.0], [3.0, 4.0]])
    assert arrays["labels"].tolist() == [3, 1]
    assert arrays["paths"].tolist() == [str(tmp_path / "videos" / f"val/{i}.mp4") for i in (0, 1)]
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.npz"]  # written atomically
    with pytest.raises(ValueError, match=r"must end in \.safetensors or \.npz"):
        save_features("random:demo", val, tmp_path / "f.txt")


def test_scores_in_percent_and_the_result_file(tmp_path):
    result = {
        "top1": 0.123456,
        "top5": 1,  # not a float: left as it is
        "num_train": 3,
        "augment": False,
        "miou_clustering": 0.5,
        "layout": "davis",
        "per_sequence": {"a": {"clustering": 0.25, "overclustering": 1 / 3}},
    }
    assert in_percent(result) == {
        "top1": 12.35,
        "top5": 1,
        "num_train": 3,
        "augment": False,
        "miou_clustering": 50.0,
        "layout": "davis",
        "per_sequence": {"a": {"clustering": 25.0, "overclustering": 33.33}},
    }
    assert list(in_percent(result)) == list(result)  # the order is kept
    line = result_line("runs/demo", {"top1": 0.5})
    assert line == '{"checkpoint": "runs/demo", "top1": 50.0}'
    path = write_result(tmp_path / "new", line)
    assert path == tmp_path / "new" / "result.json" and path.read_text() == line + "\n"
