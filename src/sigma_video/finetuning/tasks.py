"""What a fine-tuning run learns and how it is scored: one ``Task`` per head kind.

- ``classification``: one label per video, softmax cross-entropy (with mixup/cutmix and
  label smoothing, as VideoMAE); views averaged as softmax; top-1/top-5 (%).
- ``multilabel``: a set of labels per video (Charades), sigmoid + binary cross-entropy;
  views pooled by ``max`` (the SlowFast/SEVERE Charades test) or ``mean`` of the sigmoid;
  mean average precision over the classes that have a positive (scikit-learn's AP), in %.
- ``counting``: a repetition count per video (UCFRep), one regression output trained with
  the L1 loss on the count; views averaged; on the rounded count, the mean absolute error
  normalised by the true count (``mae``, lower is better; the paper's "UCF-RC") and the
  off-by-one accuracy (``obo``, %). SEVERE's own counting head (Zhang et al. 2020: cycle
  lengths against 7 anchors, a coarse-to-fine search over the video) is not reproduced: a
  direct count regression on clips that span the whole repetition segment (``segments``
  sampling) is what this head does.

A task reads its lists (``records``), checks their labels and says the head's width
(``num_outputs``), turns records into a target table (``targets``), and gives the loss,
the view pooling and the scores, so the trainer and the test need no branch per task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sigma_video.data.annotations import (
    VideoRecord,
    read_list,
    read_multilabel,
    read_records,
    read_ucfrep,
)

TASKS = ("classification", "multilabel", "counting")
VIEW_POOLS = ("mean", "max")


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over classes with at least one positive of scikit-learn's average precision;
    ``scores`` and ``targets`` ``(n, C)``; in [0, 1]."""
    from sklearn.metrics import average_precision_score

    present = targets.sum(0) > 0
    if not present.any():
        raise ValueError("no class has a positive sample: mAP is undefined")
    return float(average_precision_score(targets[:, present], scores[:, present], average="macro"))


def counting_errors(predicted: Tensor, counts: Tensor) -> dict[str, float]:
    """The repetition-counting scores of SEVERE's ``val_2stream.py`` on the rounded count
    ``c = round(predicted)``: ``mae`` the mean of |c − count| / count, ``obo`` the share (%)
    of videos with |c − count| <= 1. ``predicted``, ``counts`` ``(n,)``."""
    error = (predicted.double().round() - counts.double()).abs()
    mae = (error / counts.double()).mean()
    obo = (error <= 1).double().mean() * 100
    return {"mae": float(mae), "obo": float(obo)}


@dataclass(frozen=True)
class Task:
    """The classification task (the base the other two change)."""

    name = "classification"
    primary = "top1"  # the score a results table shows
    higher_is_better = True

    def records(self, path: str, root: str | None) -> list[VideoRecord]:
        return read_records(path, root)

    def num_outputs(self, splits: dict[str, Sequence[VideoRecord]], num_classes: int | None) -> int:
        """The head's width (``num_classes``, or counted from the first split: the
        training one), after checking every split's labels."""
        first = [r.label for r in next(iter(splits.values()))]
        if min(first) < 0:
            raise ValueError("fine-tuning needs a labelled training list ('path label' per line)")
        classes = num_classes or max(first) + 1
        for name, records in splits.items():
            bad = sorted({r.label for r in records if not 0 <= r.label < classes})
            if bad:
                raise ValueError(
                    f"{name} labels {bad[:5]} are outside 0..{classes - 1}: "
                    "the lists do not match (or set model.num_classes)"
                )
        return classes

    def prepare_head(self, head: torch.nn.Linear, targets: Tensor) -> None:
        """Adjust a fresh head to the training ``targets`` (classification: nothing)."""

    def targets(self, records: Sequence[VideoRecord], outputs: int) -> Tensor:
        """``(N,)`` class indices."""
        return torch.tensor([r.label for r in records], dtype=torch.long)

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(logits, targets)

    def pool(self, logits: Tensor) -> Tensor:
        """``(B, V, C)`` view outputs -> ``(B, C)`` per-video scores."""
        return logits.softmax(-1).mean(1)

    def score(self, pooled: Tensor, targets: Tensor) -> dict[str, float]:
        from sigma_video.evaluation.metrics import topk_correct

        n = len(targets)
        k = min(5, pooled.shape[1])
        return {
            "top1": 100.0 * topk_correct(pooled, targets, 1) / n,
            "top5": 100.0 * topk_correct(pooled, targets, k) / n,
        }


@dataclass(frozen=True)
class MultiLabel(Task):
    view_pool: str = "max"
    name = "multilabel"
    primary = "map"

    def records(self, path: str, root: str | None) -> list[VideoRecord]:
        return read_multilabel(path, root)

    def num_outputs(self, splits: dict[str, Sequence[VideoRecord]], num_classes: int | None) -> int:
        first = next(iter(splits.values()))
        classes = num_classes or 1 + max(max(r.labels) for r in first)
        if classes < 2:
            raise ValueError(f"a multi-label task needs at least 2 classes, got {classes}")
        for name, records in splits.items():
            bad = sorted({x for r in records for x in r.labels if x >= classes})
            if bad:
                raise ValueError(
                    f"{name} labels {bad[:5]} are outside 0..{classes - 1}: "
                    "the lists do not match (or set model.num_classes)"
                )
        return classes

    def targets(self, records: Sequence[VideoRecord], outputs: int) -> Tensor:
        """``(N, C)`` multi-hot float."""
        table = torch.zeros(len(records), outputs)
        for i, record in enumerate(records):
            table[i, list(record.labels)] = 1.0
        return table

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets)

    def pool(self, logits: Tensor) -> Tensor:
        probs = logits.sigmoid()
        return probs.amax(1) if self.view_pool == "max" else probs.mean(1)

    def score(self, pooled: Tensor, targets: Tensor) -> dict[str, float]:
        return {"map": 100.0 * mean_average_precision(pooled.numpy(), targets.numpy())}


@dataclass(frozen=True)
class Counting(Task):
    name = "counting"
    primary = "mae"
    higher_is_better = False

    def records(self, path: str, root: str | None) -> list[VideoRecord]:
        """A ``path count`` list, or a UCFRep annotations split folder (``read_ucfrep``)."""
        if Path(path).is_dir() and any(Path(path).glob("*.mat")):
            return read_ucfrep(path, root)
        return read_list(path, root)[0]

    def num_outputs(self, splits: dict[str, Sequence[VideoRecord]], num_classes: int | None) -> int:
        for name, records in splits.items():
            bad = [r for r in records if r.label <= 0]
            if bad:
                raise ValueError(
                    f"{name}: {len(bad)} count(s) <= 0, e.g. {bad[0].path} {bad[0].label} "
                    "(a counting list is 'path count', count >= 1)"
                )
        return 1

    def prepare_head(self, head: torch.nn.Linear, targets: Tensor) -> None:
        """Start the regression at the mean training count (bias), so the first steps fit
        the counts' variation rather than their scale (an L1 step moves a bias by about the
        lr: 1e-3 per step would need thousands of steps to reach a mean count of 7)."""
        with torch.no_grad():
            head.bias.fill_(float(targets.float().mean()))

    def targets(self, records: Sequence[VideoRecord], outputs: int) -> Tensor:
        """``(N,)`` counts, float."""
        return torch.tensor([float(r.label) for r in records])

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.l1_loss(logits[:, 0], targets)

    def pool(self, logits: Tensor) -> Tensor:
        return logits.mean(1)

    def score(self, pooled: Tensor, targets: Tensor) -> dict[str, float]:
        return counting_errors(pooled[:, 0], targets)


def make_task(name: str, view_pool: str = "max") -> Task:
    if name not in TASKS:
        raise ValueError(f"model.task must be one of {TASKS}, got {name!r}")
    if view_pool not in VIEW_POOLS:
        raise ValueError(f"data.view_pool must be one of {VIEW_POOLS}, got {view_pool!r}")
    if name == "multilabel":
        return MultiLabel(view_pool)
    return Counting() if name == "counting" else Task()
