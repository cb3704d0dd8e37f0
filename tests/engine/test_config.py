import pytest

from sigma_video.config import list_presets, save_config
from sigma_video.pretraining.config import PretrainConfig, load_pretrain_config


def test_every_preset_loads_and_the_recipe_is_right():
    presets = list_presets()
    assert "demo" in presets and len(presets) >= 9
    for name in presets:
        assert isinstance(load_pretrain_config(name), PretrainConfig)
    b_ssv2 = load_pretrain_config("vit_b_ssv2_mlp")
    assert (b_ssv2.model.arch, b_ssv2.model.objective.epsilon, b_ssv2.data.stride) == (
        "vit_base",
        0.03,
        2,
    )
    assert (
        b_ssv2.model.objective.num_prototypes,
        b_ssv2.model.objective.temperature,
        b_ssv2.model.objective.codes,
    ) == (
        3000,
        0.1,
        "hard",
    )
    assert b_ssv2.optim.betas == (0.9, 0.95) and b_ssv2.optim.base_lr == 1.5e-4
    assert load_pretrain_config("vit_b_k400_mlp").data.stride == 4
    assert load_pretrain_config("vit_s_k400_videomae").model.objective.kind == "l2"
    dino = load_pretrain_config("vit_b_ssv2_dino")
    assert (dino.model.target.kind, dino.model.target.dino_arch, dino.model.objective.epsilon) == (
        "dino",
        "dino_vitb16",
        0.03,
    )
    assert dino.model.target.dino_weights is None  # the user points it at the official file
    # the demo's measured small-scale recipe; the paper presets keep the reference values
    demo = load_pretrain_config("demo")
    assert (demo.model.target.projection, demo.model.target.freeze_epochs) == ("paper", 1)
    assert (demo.model.encoder.patch, demo.optim.base_lr, demo.optim.warmup_epochs) == (
        8,
        4.8e-3,
        1,
    )
    # the laptop preset: the demo's recipe on 16 frames 2 apart, nothing else changed
    small = load_pretrain_config("small")
    assert (small.data.num_frames, small.data.stride, small.data.size) == (16, 2, 64)
    assert (small.model, small.optim) == (demo.model, demo.optim)
    paper = [load_pretrain_config(name).model for name in presets if name.startswith("vit_")]
    assert len(paper) >= 8 and all(
        m.target.freeze_epochs == m.target.freeze_steps == 0 for m in paper
    )


def test_overrides_are_typed():
    config = load_pretrain_config(
        "demo",
        [
            "optim.base_lr=3e-3",
            "optim.betas=0.8, 0.9",
            "run.tensorboard=false",
            "optim.clip_grad=1",
            "optim.weight_decay_end=none",
            "model.objective.codes=soft",
            "data.train=/x/list.csv",
        ],
    )
    assert config.optim.base_lr == 3e-3 and config.optim.betas == (0.8, 0.9)
    assert config.run.tensorboard is False and config.optim.clip_grad == 1.0
    assert config.optim.weight_decay_end is None and config.model.objective.codes == "soft"
    assert config.data.train == "/x/list.csv"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.base_rl=1", "did you mean 'optim.base_lr'"),
        ("optimm.base_lr=1", "did you mean 'optim'"),
        ("optim.batch_size=eight", "expects an integer"),
        ("run.tensorboard=yes", "expects true or false"),
        ("optim.betas=0.9", "expects 2 values"),
        ("mask.ratio=1.5", r"mask\.ratio must be in"),
        ("optim", "key=value"),
        ("run.precision=fp8", "run.precision"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ValueError, match=message):
        load_pretrain_config("demo", [override])


def test_unknown_preset_and_roundtrip(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'demo'"):
        load_pretrain_config("dem0")
    config = load_pretrain_config("vit_b_k400_mlp", ["optim.epochs=300"])
    save_config(config, tmp_path / "config.json")
    assert load_pretrain_config(str(tmp_path / "config.json")) == config


def test_config_changes_lists_dotted_keys():
    from sigma_video.config import config_changes

    saved = {"optim": {"epochs": 60, "betas": [0.9, 0.95]}, "run": {"output": "r"}}
    new = {"optim": {"epochs": 600, "betas": (0.9, 0.95)}, "run": {"output": "r"}}
    assert config_changes(saved, new) == {"optim.epochs": (60, 600)}
    assert config_changes(saved, saved) == {}


def test_a_saved_config_with_earlier_key_names_still_resumes(tmp_path):
    """Before ``[model]`` had sections, its 30 settings were flat (``model.model``,
    ``model.mask``, ``model.flow_init``, ``model.num_prototypes`` …, and earlier still
    ``model.targets`` for ``codes``): an old run's config.json loads into the sections and a
    resume sees no change; a preset or an override with an old name is an unknown key."""
    import json

    from sigma_video.config import save_config, to_dict
    from sigma_video.engine.resume import resume_config
    from sigma_video.pretraining.config import PretrainConfig

    with pytest.raises(ValueError, match=r"unknown config key 'model\.targets'"):
        load_pretrain_config("demo", ["model.targets=soft"])
    config = load_pretrain_config("demo", ["mask.kind=mgmae", "mask.flow.init=token_rand"])
    new = to_dict(config)
    old = {section: values for section, values in new.items() if section not in ("model", "mask")}
    old["model"] = {}
    for old_key, new_key in PretrainConfig.EARLIER_KEYS.items():
        value = new
        for part in new_key.split("."):
            value = value[part]
        old["model"][old_key.removeprefix("model.")] = value
    old["model"]["targets"] = old["model"].pop("codes")
    old["model"]["grad_checkpointing"] = new["model"]["grad_checkpointing"]
    assert old["model"]["model"] == "vit_tiny" and old["model"]["flow_init"] == "token_rand"
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert load_pretrain_config(str(tmp_path / "config.json")) == config
    assert resume_config(tmp_path / "config.json", config, allow_changes=False) == config
    save_config(config, tmp_path / "new.json")
    saved = json.loads((tmp_path / "new.json").read_text())
    assert set(saved["model"]) == {
        "arch",
        "grad_checkpointing",
        "encoder",
        "decoder",
        "target",
        "objective",
    }


@pytest.mark.parametrize("size", ["l", "h", "g"])
@pytest.mark.parametrize(
    "recipe", ["k400_mlp", "k400_dino", "k400_videomae", "ssv2_mlp", "ssv2_dino", "ssv2_videomae"]
)
def test_large_presets_are_the_vit_b_recipe_with_another_encoder(size, recipe):
    """No recipe is published beyond ViT-B: the L/H/g presets change the encoder, the run
    folder, FSDP2 for H and g, and for ViT-g/14 a DINO φ in 14-pixel patches."""
    import dataclasses

    big, base = (
        load_pretrain_config(f"vit_{size}_{recipe}"),
        load_pretrain_config(f"vit_b_{recipe}"),
    )
    arch = {"l": "vit_large", "h": "vit_huge", "g": "vit_giant"}[size]
    assert big.model.arch == arch and big.run.output == f"runs/vit_{size}_{recipe}"
    assert big.run.parallel == ("ddp" if size == "l" else "fsdp")
    target = big.model.target
    if size == "g" and target.kind == "dino":
        assert target.dino_arch == "dinov2_vitb14"
        target = dataclasses.replace(target, dino_arch=base.model.target.dino_arch)
    model = dataclasses.replace(big.model, arch=base.model.arch, target=target)
    run = dataclasses.replace(big.run, output=base.run.output, parallel="ddp")
    assert (model, big.mask, big.data, big.optim, run) == (
        base.model,
        base.mask,
        base.data,
        base.optim,
        base.run,
    )
