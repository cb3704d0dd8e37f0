"""The benchmark scripts' evaluation code runs (their full runs are benchmarks, not tests)."""

import importlib.util
from pathlib import Path

from sigma_video.evaluation import load_encoder

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reproduce_small_evaluates_an_encoder(synth_root, tmp_path):
    script = load_script("reproduce_small")
    encoder, config = load_encoder("random:demo")
    row = script.embedded_metrics(encoder, config, synth_root, max_sequences=1)
    assert set(row) == {
        "probe_motion",
        "probe_appearance",
        "knn20_motion",
        "knn20_appearance",
        "vos_clustering",
        "vos_overclustering",
    }
    assert all(0 <= v <= 1 for v in row.values())
    script.plot({"a": row, "b": row}, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000
