import os
import pickle

import pytest
import torch

from sigma_video import PretrainerConfig, build_pretrainer
from sigma_video.engine.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    weights,
)


def small_model():
    torch.manual_seed(0)
    return build_pretrainer(PretrainerConfig(model="vit_tiny", num_prototypes=8))


def test_wrapped_models_save_the_plain_keys():
    model = small_model()
    plain = weights(model)
    assert weights(torch.compile(model)).keys() == plain.keys()
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in plain)


def test_atomic_layout_keep_last_and_no_nan(tmp_path):
    model = small_model()
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, model, {"note": step}, keep_last=2)
    (tmp_path / "checkpoints" / ".tmp-step_00000005-1").mkdir()  # a write cut short
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000003", "step_00000004"]
    state_dict, state = load_checkpoint(list_checkpoints(tmp_path)[-1])
    assert state["step"] == 4 and state["note"] == 4 and "rng" in state
    assert torch.equal(state_dict["encoder.norm.weight"], model.encoder.norm.weight.detach())
    with torch.no_grad():
        model.encoder.norm.weight[0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        save_checkpoint(tmp_path, 5, model, {})
    assert [p.name for p in list_checkpoints(tmp_path)][-1] == "step_00000004"


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_checkpoint(tmp_path, 1, small_model(), {})
    folder = list_checkpoints(tmp_path)[-1]
    with open(folder / "state.pt", "wb") as handle:
        pickle.dump({"optimizer": _Exploit()}, handle)
    with pytest.raises(ValueError, match="cannot load checkpoint"):
        load_checkpoint(folder)
    assert not (tmp_path / "pwned").exists()


def test_frozen_dino_weights_stay_out_of_checkpoints(tmp_path):
    from sigma_video.engine.checkpoint import load_weights_into

    config = PretrainerConfig(
        model="vit_tiny",
        target="dino",
        dino_arch="dino_vits16",
        dino_weights="random",
        num_prototypes=8,
    )
    torch.manual_seed(0)
    model = build_pretrainer(config)
    saved = save_checkpoint(tmp_path, 1, model, {})
    state, _ = load_checkpoint(saved)
    assert not any(k.startswith("target.") for k in state) and "encoder.norm.weight" in state
    torch.manual_seed(1)
    fresh = build_pretrainer(config)
    load_weights_into(fresh, state)  # the DINO part comes from its own weights file
    assert torch.equal(fresh.encoder.norm.weight, model.encoder.norm.weight)
    del state["encoder.norm.weight"]
    with pytest.raises(ValueError, match=r"missing \['encoder.norm.weight'\]"):
        load_weights_into(fresh, state)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_checkpoint_files_honour_the_umask(tmp_path, umask):
    """Colleagues on a shared cluster read the weights as they read state.pt (safetensors
    alone creates 0600 files)."""
    old = os.umask(umask)
    try:
        folder = save_checkpoint(tmp_path, 1, small_model(), {})
    finally:
        os.umask(old)
    for name in ("model.safetensors", "state.pt"):
        assert (folder / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
