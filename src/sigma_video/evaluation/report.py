"""Frozen-encoder metrics on the embedded dataset, and the demo's closing table: linear
probe and kNN on the motion and appearance labels, and video object segmentation mIoU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from sigma_video.data.annotations import read_list
from sigma_video.data.clip import ClipSpec
from sigma_video.engine.device import resolve_device
from sigma_video.engine.run_dir import write_json
from sigma_video.evaluation.features import extract_features
from sigma_video.evaluation.knn import knn_accuracy
from sigma_video.evaluation.probe import linear_probe
from sigma_video.evaluation.segmentation import evaluate_segmentation
from sigma_video.evaluation.settings import KNN_KS
from sigma_video.io.load import encoder_for, load_model
from sigma_video.models.encoder import VideoEncoder
from sigma_video.pretraining.config import load_pretrain_config
from sigma_video.synth.dataset import default_dataset

TASKS = (("motion", ".csv"), ("appearance", "_appearance.csv"))


def embedded_metrics(
    encoder: VideoEncoder,
    spec: ClipSpec,
    root: Path,
    max_sequences: int = 32,
    device: str = "auto",
    workers: int = 2,
) -> dict[str, float]:
    """``probe_*`` and ``knn20_*`` top-1 for both label sets, ``vos_*`` mIoU, in [0, 1]
    (``probe_report`` writes them in percent), of clips ``spec`` (centre views), on
    ``device`` (auto: CUDA when there is one)."""
    device = resolve_device(device)
    encoder = encoder.to(device)
    clip = spec.view()
    lists = {
        (split, task): read_list(root / f"{split}{suffix}", root=str(root))[0]
        for split in ("train", "val")
        for task, suffix in TASKS
    }
    feats = {
        split: extract_features(
            encoder, lists[(split, "motion")], clip, workers=workers, device=device
        )[0]
        for split in ("train", "val")
    }
    out = {}
    for task, _ in TASKS:
        y = {s: torch.tensor([r.label for r in lists[(s, task)]]) for s in ("train", "val")}
        out[f"probe_{task}"] = linear_probe(feats["train"], y["train"], feats["val"], y["val"])[
            "top1"
        ]
        k = KNN_KS[0]
        knn = knn_accuracy(feats["train"], y["train"], feats["val"], y["val"], ks=(k,))
        out[f"knn{k}_{task}"] = knn[f"top1_k{k}"]
    seg = evaluate_segmentation(encoder, root / "davis", spec.size, max_sequences=max_sequences)
    out["vos_clustering"] = seg["miou_clustering"]
    out["vos_overclustering"] = seg["miou_overclustering"]
    return out


def probe_report(
    run_dir: str | Path,
    log: Callable[[str], None] = print,
    root: Path | None = None,
    max_sequences: int = 32,
) -> dict[str, dict[str, float]]:
    """``embedded_metrics`` of the run's encoder and of its own random initialisation, in
    percent, printed as a table with a short reading and written to ``RUN/report.md`` and
    ``RUN/report.json``; the run must have trained on the embedded dataset."""
    trained, clip = load_model(run_dir)
    config = load_pretrain_config(str(Path(run_dir) / "config.json"))
    if not config.data.embedded:
        raise ValueError(
            "the probe report needs the embedded dataset (data.train and data.sources unset)"
        )
    root = root or default_dataset()
    encoders = {
        "SIGMA (this run)": trained,
        "random init": encoder_for(config, config.run.seed).eval(),  # the run's starting point
    }
    log(
        "evaluating the frozen encoder and its random initialisation: linear probes and kNN "
        f"on the motion and appearance labels, segmentation of {max_sequences} val videos"
    )
    options = {"device": config.run.device, "workers": config.data.workers}
    results = {
        name: {
            metric: 100 * value
            for metric, value in embedded_metrics(e, clip, root, max_sequences, **options).items()
        }
        for name, e in encoders.items()
    }
    classes = {
        t: max(r.label for r in read_list(root / f"train{s}", root=str(root))[0]) + 1
        for t, s in TASKS
    }
    lines = report_lines(results, classes, max_sequences)
    for line in lines:
        log(line)
    run_dir = Path(run_dir)
    (run_dir / "report.md").write_text("\n".join(lines) + "\n")
    write_json(run_dir / "report.json", {"results": results, "classes": classes})
    log(f"report: {run_dir / 'report.md'} (numbers in report.json); run logs in {run_dir}")
    return results


def report_lines(
    results: dict[str, dict[str, float]], classes: dict[str, int], max_sequences: int
) -> list[str]:
    """The demo's closing table and a reading of it for a newcomer (``results`` in %)."""
    lines = [
        "frozen encoders on the embedded dataset's val split: linear-probe top-1, and video",
        f"object segmentation mIoU (clustering / over-clustering, first {max_sequences} videos)",
        f"{'encoder':<18} {'motion':>8} {'appearance':>11} {'VOS mIoU':>14}",
    ]
    for name, r in results.items():
        vos = f"{r['vos_clustering']:.1f} / {r['vos_overclustering']:.1f}"
        motion, appearance = r["probe_motion"], r["probe_appearance"]
        lines.append(f"{name:<18} {motion:>7.1f}% {appearance:>10.1f}% {vos:>14}")
    chance = {t: 100 / n for t, n in classes.items()}
    lines.append(f"{'chance':<18} {chance['motion']:>7.1f}% {chance['appearance']:>10.1f}%")
    trained, initial = results["SIGMA (this run)"], results["random init"]
    gain = {k: trained[k] - initial[k] for k in trained}
    lines += [
        "",
        f"Reading: against the same encoder before pretraining (its random initialisation), "
        f"pretraining moved the motion probe by {gain['probe_motion']:+.1f} points, the "
        f"appearance probe by {gain['probe_appearance']:+.1f} and clustering mIoU by "
        f"{gain['vos_clustering']:+.1f}. A linear probe reads what the frozen, average-pooled "
        "features already hold; segmentation clusters the per-tube features of each clip "
        "without labels. One val video is about 1 point: compare seeds "
        "(benchmarks/reproduce_small.py) before reading a difference of a few points.",
    ]
    return lines
