"""The benchmark scripts' evaluation code runs (their full runs are benchmarks, not tests)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from sigma_video.io import load_model

ROOT = Path(__file__).resolve().parents[2]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (its dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


def test_reproduce_small_evaluates_an_encoder(synth_root, tmp_path):
    script = load_script("reproduce_small")
    encoder, clip = load_model("random:demo")
    row = script.embedded_metrics(encoder, clip, synth_root, max_sequences=1)
    assert set(row) == {
        "probe_motion",
        "probe_appearance",
        "knn20_motion",
        "knn20_appearance",
        "vos_clustering",
        "vos_overclustering",
    }
    assert all(0 <= v <= 1 for v in row.values())
    summary = script.summarise({"a": [row, row], "b": [row]})
    metrics = list(row)
    script.plot(summary, metrics, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_reproduce_small_statistics():
    script = load_script("reproduce_small")
    runs = {
        "SIGMA": [{"probe": 0.50, "vos": 0.30}, {"probe": 0.60, "vos": 0.34}, {"probe": 0.70}],
        "ceiling": [{"probe": 0.9}],
    }
    summary = script.summarise(runs)
    mean, std, n = summary["SIGMA"]["probe"]
    assert (round(mean, 9), round(std, 9), n) == (60.0, 10.0, 3)  # sample std of 50, 60, 70
    assert summary["SIGMA"]["vos"][:2] == (32.0, 2**0.5 * 2)  # two runs: |30 - 34| / √2
    assert summary["ceiling"]["probe"] == (90.0, 0.0, 1)
    lines = script.table(summary, ["probe", "vos"])
    assert lines[2] == "| SIGMA | 60.0 ± 10.0 | 32.0 ± 2.8 |"
    assert lines[3] == "| ceiling | 90.0 ± 0.0 | – |"


def test_reproduce_small_plans_and_collects_tasks():
    import argparse

    script = load_script("reproduce_small")
    args = argparse.Namespace(seeds=2, supervised=True, finetune=True)
    first, then = script.plan_tasks(args, {"SIGMA-MLP": [], "VideoMAE-pixel": ["x=1"]})
    assert [(t.kind, t.row, t.seed) for t in first[:3]] == [
        ("pretrain", "SIGMA-MLP", 0),
        ("pretrain", "VideoMAE-pixel", 0),
        ("random", "random init", 0),
    ]
    assert first[1].overrides == ("x=1",)
    assert [t.label for t in first if t.kind == "supervised"] == ["motion", "appearance"] * 2
    assert [(t.row, t.seed) for t in then] == [
        ("SIGMA-MLP", 0),
        ("random init", 0),
        ("SIGMA-MLP", 1),
        ("random init", 1),
    ]
    # results come back in the tasks' order; a row's later tasks merge into its seed's dict
    fake = {"pretrain": {"probe": 0.5}, "random": {"probe": 0.2}, "finetune": {"ft": 0.9}}
    results = [
        (
            t,
            dict(fake.get(t.kind, {f"probe_{t.label}": 0.95})),
            60.0 if t.kind == "pretrain" else None,
        )
        for t in first + then
    ]
    runs, timings = script.collect(results)
    assert list(runs) == ["SIGMA-MLP", "VideoMAE-pixel", "random init", "supervised ceiling"]
    assert runs["SIGMA-MLP"] == [{"probe": 0.5, "ft": 0.9}] * 2
    assert runs["VideoMAE-pixel"] == [{"probe": 0.5}] * 2
    assert runs["random init"] == [{"probe": 0.2, "ft": 0.9}] * 2
    assert runs["supervised ceiling"] == [{"probe_motion": 0.95, "probe_appearance": 0.95}] * 2
    assert timings == {"SIGMA-MLP": [60.0, 60.0], "VideoMAE-pixel": [60.0, 60.0]}


@pytest.mark.slow
def test_dino_precision_measures_the_bf16_difference():
    import json
    import subprocess

    script = str(ROOT / "benchmarks" / "dino_precision.py")
    small = ["--arch", "dino_vits16", "--batch-size", "1", "--prototypes", "64"]
    out = subprocess.run(
        [sys.executable, script, *small],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = json.loads(out.strip().splitlines()[-1])
    assert line["masked_tubes"] == 1408  # 90 % of 8×14×14
    assert 1e-4 < line["relative_target_difference"] < 0.1  # bf16 differs, but only a little
    assert 0 <= line["hard_labels_changed_pct"] < 50


def test_opens_times_both_ways_on_the_same_clips(sample_videos):
    script = load_script("opens")
    ms = script.time_opens([sample_videos["bikes"]], stride=2, samples=2)
    assert set(ms) == {"one", "two", "saved"} and ms["one"] > 0 and ms["two"] > 0
