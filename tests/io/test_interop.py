"""Reference SIGMA/VideoMAE checkpoints in: key layout, equivalence, safety."""

import argparse
import json
import math
import os

import pytest
import torch

from sigma_video import PretrainerConfig, build_pretrainer
from sigma_video.cli import main
from sigma_video.io import load_model, pretrainer_weights
from sigma_video.models.config import ObjectiveSettings
from tests.reference import official_pretraining_layout

D, HEADS, DEPTH = 128, 2, 2  # 64-wide heads, as ViT-S/B/L


def reference_encoder_state(seed=0, prefix="encoder.", final_norm=True):
    """A tiny state dict in the reference VideoMAE/SIGMA key layout."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    sd = {
        f"{prefix}patch_embed.proj.weight": r(D, 3, 2, 16, 16),
        f"{prefix}patch_embed.proj.bias": r(D),
    }
    for i in range(DEPTH):
        b = f"{prefix}blocks.{i}."
        sd.update(
            {
                b + "norm1.weight": 1 + r(D),
                b + "norm1.bias": r(D),
                b + "attn.qkv.weight": r(3 * D, D),
                b + "attn.q_bias": r(D),
                b + "attn.v_bias": r(D),
                b + "attn.proj.weight": r(D, D),
                b + "attn.proj.bias": r(D),
                b + "norm2.weight": 1 + r(D),
                b + "norm2.bias": r(D),
                b + "mlp.fc1.weight": r(4 * D, D),
                b + "mlp.fc1.bias": r(4 * D),
                b + "mlp.fc2.weight": r(D, 4 * D),
                b + "mlp.fc2.bias": r(D),
            }
        )
    if final_norm:
        sd.update({f"{prefix}norm.weight": 1 + r(D), f"{prefix}norm.bias": r(D)})
    return sd


def sinusoid(n, d):
    return torch.tensor(
        [
            [
                (math.sin if j % 2 == 0 else math.cos)(p / 10000 ** (2 * (j // 2) / d))
                for j in range(d)
            ]
            for p in range(n)
        ],
        dtype=torch.float64,
    )


def independent_forward(sd, video, prefix="encoder.", final_norm=True):
    """The reference encoder's computation, written out in float64."""
    p = {k[len(prefix) :]: v.double() for k, v in sd.items() if k.startswith(prefix)}
    x = torch.nn.functional.conv3d(
        video.double(), p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=(2, 16, 16)
    )
    x = x.flatten(2).transpose(1, 2)
    x = x + sinusoid(x.shape[1], D)

    def ln(t, name):
        return torch.nn.functional.layer_norm(t, (D,), p[f"{name}.weight"], p[f"{name}.bias"], 1e-6)

    for i in range(DEPTH):
        b = f"blocks.{i}."
        h = ln(x, b + "norm1")
        bias = torch.cat(
            [p[b + "attn.q_bias"], torch.zeros(D, dtype=torch.float64), p[b + "attn.v_bias"]]
        )
        qkv = h @ p[b + "attn.qkv.weight"].T + bias
        q, k, v = (
            qkv[..., j * D : (j + 1) * D].reshape(len(x), -1, HEADS, 64).transpose(1, 2)
            for j in range(3)
        )
        a = torch.softmax(q @ k.transpose(-1, -2) / 8.0, -1) @ v
        x = (
            x
            + a.transpose(1, 2).reshape(len(x), -1, D) @ p[b + "attn.proj.weight"].T
            + p[b + "attn.proj.bias"]
        )
        h = torch.nn.functional.gelu(
            ln(x, b + "norm2") @ p[b + "mlp.fc1.weight"].T + p[b + "mlp.fc1.bias"]
        )
        x = x + h @ p[b + "mlp.fc2.weight"].T + p[b + "mlp.fc2.bias"]
    return ln(x, "norm") if final_norm else x


def save_reference(path, model_state, **args):
    namespace = argparse.Namespace(
        num_frames=4, sampling_rate=2, input_size=32, model="tiny", **args
    )
    torch.save(
        {"model": model_state, "optimizer": {}, "epoch": 7, "scaler": {}, "args": namespace}, path
    )


def test_pretraining_checkpoint_matches_the_independent_computation(tmp_path):
    sd = reference_encoder_state()
    sd.update(
        {
            "decoder.norm.weight": torch.ones(8),
            "encoder_to_decoder.weight": torch.zeros(8, D),
            "mask_token": torch.zeros(1, 1, 8),
            "prototypes": torch.zeros(5, 8),
        }
    )
    save_reference(tmp_path / "ref.pth", sd)
    encoder, clip = load_model(tmp_path / "ref.pth")
    assert (clip.num_frames, clip.stride, clip.size) == (4, 2, 32)
    video = torch.randn(2, 3, 4, 32, 32)
    torch.testing.assert_close(
        encoder.forward_features(video).double(),
        independent_forward(sd, video),
        rtol=1e-4,
        atol=1e-4,
    )
    # dropped biases would be caught: the same weights without q/v bias give other outputs
    no_bias = {
        k: (torch.zeros_like(v) if k.endswith(("q_bias", "v_bias")) else v) for k, v in sd.items()
    }
    assert not torch.allclose(
        independent_forward(no_bias, video), independent_forward(sd, video), atol=1e-3
    )


def test_finetuning_checkpoint_with_fc_norm_and_learned_positions(tmp_path):
    sd = reference_encoder_state(prefix="", final_norm=False)
    g = torch.Generator().manual_seed(5)
    sd.update(
        {
            "fc_norm.weight": 1 + torch.randn(D, generator=g) * 0.1,
            "fc_norm.bias": torch.randn(D, generator=g) * 0.1,
            "head.weight": torch.randn(10, D, generator=g) * 0.1,
            "head.bias": torch.randn(10, generator=g) * 0.1,
            "pos_embed": sinusoid(8, D).float()[None],
        }
    )
    save_reference(tmp_path / "ft.pth", {f"module.{k}": v for k, v in sd.items()})
    encoder, _ = load_model(tmp_path / "ft.pth")
    video = torch.randn(2, 3, 4, 32, 32)
    tokens = independent_forward(
        {f"encoder.{k}": v for k, v in sd.items()}, video, final_norm=False
    )
    pooled = torch.nn.functional.layer_norm(
        tokens.mean(1), (D,), sd["fc_norm.weight"].double(), sd["fc_norm.bias"].double(), 1e-6
    )
    torch.testing.assert_close(encoder.forward_pooled(video).double(), pooled, rtol=1e-4, atol=1e-4)
    # the whole fine-tuned model, head included, for `sigma-video test`
    model, clip = load_model(tmp_path / "ft.pth", "classifier")
    logits = pooled @ sd["head.weight"].double().T + sd["head.bias"].double()
    torch.testing.assert_close(model(video).double(), logits, rtol=1e-4, atol=1e-4)
    assert model.num_classes == 10 and clip.num_frames == 4
    del sd["head.weight"]
    save_reference(tmp_path / "headless.pth", sd)
    with pytest.raises(ValueError, match="no classifier head"):
        load_model(tmp_path / "headless.pth", "classifier")


def test_a_learned_position_table_survives_convert_and_finetuning(synth_root, tmp_path, capsys):
    from sigma_video.checkpoint_format import list_checkpoints, load_checkpoint
    from sigma_video.finetuning.trainer import finetune
    from tests.finetuning.test_trainer import small

    sd = reference_encoder_state(prefix="", final_norm=False)
    table = torch.randn(1, 8, D, generator=torch.Generator().manual_seed(6))  # grid (2, 2, 2)
    sd.update({"fc_norm.weight": torch.ones(D), "fc_norm.bias": torch.zeros(D), "pos_embed": table})
    save_reference(tmp_path / "ft.pth", sd)
    encoder, _ = load_model(tmp_path / "ft.pth")
    assert encoder.config.learned_pos and torch.equal(encoder.state_dict()["pos_embed"], table[0])

    convert = ["convert", "--input", str(tmp_path / "ft.pth"), "--output"]
    assert main([*convert, str(tmp_path / "enc")]) == 0
    converted, _ = load_model(tmp_path / "enc")
    assert torch.equal(converted.pos_embed, table[0])
    with pytest.raises(SystemExit):  # another clip size: the table cannot follow
        main([*convert, str(tmp_path / "other"), "--num-frames", "8"])
    assert "learned position table" in capsys.readouterr().err
    norm = {**reference_encoder_state(), "encoder.pos_embed": table}  # a per-token norm
    save_reference(tmp_path / "norm.pth", norm)
    convert = ["convert", "--input", str(tmp_path / "norm.pth"), "--output"]
    with pytest.raises(SystemExit):  # VideoMAE's table is the fixed sinusoid
        main([*convert, str(tmp_path / "hf"), "--to", "hf"])
    assert "learned position table" in capsys.readouterr().err

    run = tmp_path / "finetuned"
    finetune(small(synth_root, tmp_path / "ft.pth", run, "optim.max_steps=2"), log=lambda _: None)
    weights, _ = load_checkpoint(list_checkpoints(run)[-1])
    assert not torch.equal(weights["encoder.pos_embed"], table[0])  # fine-tuned with the rest
    model, _ = load_model(run, "classifier")
    assert torch.equal(model.encoder.pos_embed, weights["encoder.pos_embed"])


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_code_in_a_pickle_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": reference_encoder_state(), "args": _Exploit()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="refusing to load"):
        load_model(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()


def test_wrong_architecture_is_one_line(tmp_path):
    sd = reference_encoder_state()
    sd["encoder.blocks.1.mlp.fc1.weight"] = torch.zeros(3 * D, D)
    del sd["encoder.norm.bias"]
    save_reference(tmp_path / "bad.pth", sd)
    with pytest.raises(ValueError) as err:
        load_model(tmp_path / "bad.pth")
    message = str(err.value)
    assert (
        "\n" not in message
        and "norm.bias" in message
        and "blocks.1.mlp.fc1.weight (384, 128) != (512, 128)" in message
    )
    sd = reference_encoder_state()
    sd["encoder.extra.weight"] = torch.zeros(1)
    save_reference(tmp_path / "extra.pth", sd)
    load_model(tmp_path / "extra.pth")  # extra keys are tolerated ...
    with pytest.raises(ValueError, match="unexpected"):
        load_model(tmp_path / "extra.pth", strict=True)  # ... unless strict


def test_convert_command_round_trip(tmp_path, capsys):
    sd = reference_encoder_state()
    save_reference(tmp_path / "ref.pth", sd)
    assert (
        main(["convert", "--input", str(tmp_path / "ref.pth"), "--output", str(tmp_path / "enc")])
        == 0
    )
    assert '"depth": 2' in capsys.readouterr().out
    converted, clip = load_model(tmp_path / "enc")
    original, _ = load_model(tmp_path / "ref.pth")
    video = torch.randn(1, 3, 4, 32, 32)
    torch.testing.assert_close(converted.forward_features(video), original.forward_features(video))
    assert clip.stride == 2


def test_reference_pretraining_keys_map_onto_ours():
    model = build_pretrainer(
        PretrainerConfig(arch="vit_tiny", objective=ObjectiveSettings(num_prototypes=8))
    )
    ours = model.state_dict()
    mapped = pretrainer_weights(official_pretraining_layout(ours))
    assert mapped.keys() == ours.keys()
    model.load_state_dict(mapped)


def test_hugging_face_export_round_trip(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")  # a dev dependency: present in CI
    sd = reference_encoder_state(seed=3)
    save_reference(tmp_path / "ref.pth", sd)
    assert (
        main(
            [
                "convert",
                "--input",
                str(tmp_path / "ref.pth"),
                "--output",
                str(tmp_path / "hf"),
                "--to",
                "hf",
            ]
        )
        == 0
    )
    model = transformers.VideoMAEModel.from_pretrained(str(tmp_path / "hf")).eval()
    attention = model.encoder.layer[0].attention.attention
    torch.testing.assert_close(
        attention.value.bias, sd["encoder.blocks.0.attn.v_bias"]
    )  # not dropped
    torch.testing.assert_close(attention.query.bias, sd["encoder.blocks.0.attn.q_bias"])
    video = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        theirs = model(pixel_values=video.transpose(1, 2)).last_hidden_state  # (B, T, C, H, W)
    torch.testing.assert_close(
        theirs.double(), independent_forward(sd, video), rtol=1e-4, atol=1e-4
    )
    imported, clip = load_model(tmp_path / "hf")  # and back
    torch.testing.assert_close(imported.forward_features(video), theirs, rtol=1e-5, atol=1e-5)
    # the clip settings travel with the export (the stride has no VideoMAE field)
    assert (clip.num_frames, clip.stride, clip.size) == (4, 2, 32)
    processor = transformers.VideoMAEImageProcessor.from_pretrained(str(tmp_path / "hf"))
    assert processor.crop_size == {"height": 32, "width": 32}
    assert list(processor.image_mean) == [0.485, 0.456, 0.406]


def test_convert_asks_for_clip_settings_a_file_does_not_record(tmp_path, capsys):
    sd = reference_encoder_state(seed=4)
    torch.save({"model": sd}, tmp_path / "bare.pth")  # no args namespace
    argv = ["convert", "--input", str(tmp_path / "bare.pth"), "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "does not record its clip settings" in err
    assert "--num-frames, --stride, --size" in err
    assert main([*argv, "--num-frames", "4", "--stride", "2", "--size", "32"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["num_frames"], out["stride"], out["size"]) == (4, 2, 32)
    encoder, clip = load_model(tmp_path / "out")
    assert (encoder.config.num_frames, encoder.config.img_size, clip.stride) == (4, 32, 2)
    video = torch.randn(1, 3, 4, 32, 32)
    torch.testing.assert_close(
        encoder.forward_features(video).double(),
        independent_forward(sd, video),
        rtol=1e-4,
        atol=1e-4,
    )
