import os
import pickle

import pytest
import torch

from sigma_video import PretrainerConfig, build_pretrainer
from sigma_video.engine.checkpoint import Checkpointer, list_checkpoints, load_checkpoint, weights
from sigma_video.models.config import ObjectiveSettings, TargetSettings


def small_model():
    torch.manual_seed(0)
    return build_pretrainer(
        PretrainerConfig(arch="vit_tiny", objective=ObjectiveSettings(num_prototypes=8))
    )


def test_wrapped_models_save_the_plain_keys():
    model = small_model()
    plain = weights(model)
    assert weights(torch.compile(model)).keys() == plain.keys()
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in plain)


def test_atomic_layout_keep_last_and_no_nan(tmp_path):
    model = small_model()
    for step in (1, 2, 3, 4):
        Checkpointer(tmp_path, keep_last=2).save(step, model, {"note": step})
    (tmp_path / "checkpoints" / ".tmp-step_00000005-1").mkdir()  # a write cut short
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000003", "step_00000004"]
    state_dict, state = load_checkpoint(list_checkpoints(tmp_path)[-1])
    assert state["step"] == 4 and state["note"] == 4 and "rng" in state
    assert torch.equal(state_dict["encoder.norm.weight"], model.encoder.norm.weight.detach())
    with torch.no_grad():
        model.encoder.norm.weight[0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        Checkpointer(tmp_path).save(5, model, {})
    assert [p.name for p in list_checkpoints(tmp_path)][-1] == "step_00000004"


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Checkpointer(tmp_path).save(1, small_model(), {})
    folder = list_checkpoints(tmp_path)[-1]
    with open(folder / "state.pt", "wb") as handle:
        pickle.dump({"optimizer": _Exploit()}, handle)
    with pytest.raises(ValueError, match="cannot load checkpoint"):
        load_checkpoint(folder)
    assert not (tmp_path / "pwned").exists()


def test_frozen_dino_weights_stay_out_of_checkpoints(tmp_path):
    from sigma_video.engine.checkpoint import load_weights_into

    config = PretrainerConfig(
        arch="vit_tiny",
        target=TargetSettings(kind="dino", dino_arch="dino_vits16", dino_weights="random"),
        objective=ObjectiveSettings(num_prototypes=8),
    )
    torch.manual_seed(0)
    model = build_pretrainer(config)
    saved = Checkpointer(tmp_path).save(1, model, {})
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
        folder = Checkpointer(tmp_path).save(1, small_model(), {})
    finally:
        os.umask(old)
    for name in ("model.safetensors", "state.pt"):
        assert (folder / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_the_checkpointer_restores_what_it_saved(tmp_path):
    """``save`` then ``load``: the weights, each ``Stateful`` (optimizer moments, scaler),
    the plain values and the RNG streams come back; the header carries the metadata."""
    from sigma_video.checkpoint_format import read_metadata

    model = small_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sum((p * p).sum() for p in model.parameters()).backward()
    optimizer.step()
    checkpointer = Checkpointer(tmp_path, metadata={"model": "test"})
    folder = checkpointer.save(7, model, {"optimizer": optimizer, "counter": 3})
    expected = torch.rand(3)  # the RNG draw right after saving
    assert read_metadata(folder / "model.safetensors") == {"model": "test", "step": "7"}

    fresh = small_model()
    torch.manual_seed(99)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    state = checkpointer.load(folder, fresh, {"optimizer": fresh_optimizer})
    assert state["step"] == 7 and state["counter"] == 3
    assert torch.equal(torch.rand(3), expected)
    pairs = zip(model.parameters(), fresh.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    moments = [s["exp_avg"] for s in optimizer.state.values()]
    restored = [s["exp_avg"] for s in fresh_optimizer.state.values()]
    assert len(moments) == len(restored) > 0
    assert all(torch.equal(a, b) for a, b in zip(moments, restored, strict=True))
