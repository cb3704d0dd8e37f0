"""The task heads' math: losses, view pooling and scores, against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from sigma_video.data.annotations import VideoRecord
from sigma_video.finetuning.tasks import (
    Counting,
    MultiLabel,
    Task,
    counting_errors,
    make_task,
    mean_average_precision,
)


def test_mean_average_precision_by_hand():
    scores = np.array([[0.9, 0.2, 0.5], [0.8, 0.7, 0.1], [0.3, 0.9, 0.4], [0.1, 0.1, 0.3]])
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
    # class 0: ranks 1 (+), 2 (-), 3 (+): AP = (1 + 2/3) / 2; class 1: rank 2 (+): AP = 1/2;
    # class 2 has no positive and is left out (as SlowFast's get_map)
    expected = ((1 + 2 / 3) / 2 + 1 / 2) / 2
    assert mean_average_precision(scores, targets) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="no class has a positive"):
        mean_average_precision(scores, np.zeros_like(targets))


def test_counting_errors_round_then_normalise():
    predicted = torch.tensor([1.4, 2.6, 5.0, 0.2])
    counts = torch.tensor([1.0, 2.0, 3.0, 4.0])
    # rounded 1, 3, 5, 0: errors 0, 1, 2, 4; normalised 0, 1/2, 2/3, 1; within one: 2 of 4
    result = counting_errors(predicted, counts)
    assert result["mae"] == pytest.approx((0 + 1 / 2 + 2 / 3 + 1) / 4, abs=1e-12)
    assert result["obo"] == pytest.approx(50.0)


def test_multilabel_targets_loss_and_pooling():
    task = MultiLabel("max")
    records = [VideoRecord("a", labels=(0, 2)), VideoRecord("b", labels=(1,))]
    targets = task.targets(records, 3)
    assert targets.tolist() == [[1, 0, 1], [0, 1, 0]]
    logits = torch.tensor([[2.0, -1.0, 0.5], [-0.3, 0.7, 0.0]], dtype=torch.float64)
    # binary cross-entropy by hand, mean over the 6 entries
    expected = 0.0
    for z, y in zip(logits.flatten().tolist(), targets.flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-z))
        expected -= y * math.log(p) + (1 - y) * math.log(1 - p)
    assert task.loss(logits, targets.double()).item() == pytest.approx(expected / 6, rel=1e-12)
    views = torch.tensor([[[0.0, 1.0], [2.0, -1.0]]])  # (1 video, 2 views, 2 classes)
    sig = torch.sigmoid(views[0])
    assert torch.allclose(task.pool(views)[0], sig.amax(0))
    assert torch.allclose(MultiLabel("mean").pool(views)[0], sig.mean(0))


def test_counting_regresses_the_count_with_l1():
    task = Counting()
    records = [VideoRecord("a", 3), VideoRecord("b", 1)]
    targets = task.targets(records, 1)
    assert targets.tolist() == [3.0, 1.0]
    logits = torch.tensor([[2.5], [1.5]])
    assert task.loss(logits, targets).item() == pytest.approx(0.5)
    assert task.pool(torch.tensor([[[1.0], [3.0]]])).tolist() == [[2.0]]
    assert task.num_outputs({"train": records}, None) == 1


def test_label_checks_are_one_line_errors():
    with pytest.raises(ValueError, match=r"count\(s\) <= 0"):
        Counting().num_outputs({"train": [VideoRecord("a", 0)]}, None)
    multi = MultiLabel()
    train = [VideoRecord("a", labels=(0, 3))]
    assert multi.num_outputs({"train": train}, None) == 4
    with pytest.raises(ValueError, match=r"val labels \[7\] are outside 0..3"):
        multi.num_outputs({"train": train, "val": [VideoRecord("b", labels=(7,))]}, None)
    with pytest.raises(ValueError, match=r"outside 0\.\.5"):
        Task().num_outputs({"train": [VideoRecord("a", 2)], "val": [VideoRecord("b", 9)]}, 6)
    with pytest.raises(ValueError, match=r"model\.task must be one of"):
        make_task("regression")


def test_classification_scores_are_top_k():
    pooled = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    labels = torch.tensor([0, 1, 1])
    result = Task().score(pooled, labels)
    assert result["top1"] == pytest.approx(100 / 3) and result["top5"] == 100.0


def test_counting_head_starts_at_the_mean_count():
    head = torch.nn.Linear(4, 1)
    Counting().prepare_head(head, torch.tensor([1.0, 2.0, 6.0]))
    assert head.bias.item() == pytest.approx(3.0)
    before = torch.nn.Linear(4, 3)
    weights = before.bias.clone()
    Task().prepare_head(before, torch.tensor([0, 1, 2]))
    assert torch.equal(before.bias, weights)
