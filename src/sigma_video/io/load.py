"""One way from a source to a model: ``load_model(source, kind)`` -> ``(model, ClipSpec)``.

A source is a pretraining run (its latest checkpoint) or one of its checkpoint folders, a
fine-tuning run or checkpoint, a checkpoint's ``model.safetensors`` alone (its header says
what it holds: ``models.header``), a converted encoder folder
(``sigma-video convert``), a Hugging Face VideoMAE folder, an official SIGMA/VideoMAE
``.pth`` (pretraining or fine-tuning; no pickled code runs), or ``random:NAME`` — a
preset's (``sigma-video presets``) or a model's (``sigma-video models``) encoder at random
initialisation.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from sigma_video.checkpoint_format import list_checkpoints, load_checkpoint, read_metadata
from sigma_video.config import list_presets
from sigma_video.data.clip import ClipSpec
from sigma_video.files import save_tensors
from sigma_video.io.huggingface import import_videomae, is_videomae_folder
from sigma_video.io.keys import pretrainer_weights
from sigma_video.io.official import official_classifier, official_encoder, read_checkpoint
from sigma_video.models.classifier import VideoClassifier, classifier_from_config
from sigma_video.models.encoder import EncoderConfig, VideoEncoder
from sigma_video.models.registry import list_models
from sigma_video.pretrainer import build_encoder
from sigma_video.pretraining.config import load_pretrain_config
from sigma_video.state_dict import check_fit

if TYPE_CHECKING:  # a run's config is loaded through sigma_video.config at run time
    from sigma_video.pretraining.config import PretrainConfig

KINDS = ("encoder", "classifier")
CLASSIFIER_FILE = "classifier.json"  # in a fine-tuning run: architecture, classes, clip
CONVERTED_FILES = ("encoder.safetensors", "encoder.json")


def load_model(
    source: str | Path, kind: str = "encoder", seed: int = 0, strict: bool = False
) -> tuple[nn.Module, ClipSpec]:
    """``(model in eval mode, the clips it was trained on)`` for any source (module doc).

    ``kind="encoder"``: a ``VideoEncoder`` (a classifier's encoder, a pretrainer's Ψ);
    ``"classifier"``: a fine-tuned ``VideoClassifier`` (fine-tuning runs and official
    fine-tuned files only). ``seed`` draws ``random:`` weights. ``strict`` also refuses
    unexpected extra keys (missing keys and shape mismatches always refuse).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    text = str(source)
    if not text.startswith("random:") and not Path(text).exists():
        raise ValueError(f"{text} does not exist")
    described = self_described(Path(text), kind)
    if described is not None:
        return described
    if kind == "classifier":
        return _classifier(Path(source))
    if text.startswith("random:"):
        config = random_config(text.split(":", 1)[1])
        return encoder_for(config, seed).eval(), ClipSpec.of(config.data)
    path = checkpoint_folder(Path(text))
    if path.is_file():
        encoder, clip = official_encoder(path, strict)
        return encoder, ClipSpec.of(clip)
    if (path / CONVERTED_FILES[0]).exists():
        return converted_encoder(path)
    if is_videomae_folder(path):
        encoder, clip = import_videomae(path)
        return encoder, ClipSpec.of(clip)
    if (path / CLASSIFIER_FILE).exists() or (path.parent.parent / CLASSIFIER_FILE).exists():
        classifier, clip = _classifier(path)
        return classifier.encoder, clip
    config, checkpoint = pretraining_checkpoint(path)
    encoder = encoder_for(config, seed)
    weights, _ = load_checkpoint(checkpoint)
    return pretrained_encoder(encoder, weights, str(checkpoint)), ClipSpec.of(config.data)


def pretrained_encoder(
    encoder: VideoEncoder, weights: dict[str, Tensor], source: str
) -> VideoEncoder:
    """``encoder`` (eval mode) holding Ψ's ``encoder.*`` weights of a pretrainer's state."""
    prefix = "encoder."
    state = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    check_fit(encoder.state_dict(), state, source, "this encoder", strict=True)
    encoder.load_state_dict(state)
    return encoder.eval()


def fine_tuned(meta: dict[str, Any], weights: dict[str, Tensor], source: str) -> VideoClassifier:
    """The classifier ``meta`` (``classifier.json``'s content) describes, in eval mode,
    holding ``weights``."""
    model = classifier_from_config(
        meta["encoder"],
        meta["num_classes"],
        meta["head_dropout"],
        meta.get("task", "classification"),  # runs saved before multi-label and counting
    )
    check_fit(model.state_dict(), weights, source, "this classifier", strict=True)
    model.load_state_dict(weights)
    return model.eval()


def self_described(path: Path, kind: str) -> tuple[nn.Module, ClipSpec] | None:
    """The model of a checkpoint folder, or of its ``model.safetensors`` alone, built from
    the header (``models.header``); None for other sources
    and for checkpoints written before their weights described themselves."""
    file = path / "model.safetensors" if path.is_dir() else path
    if file.name != "model.safetensors" or not file.is_file():
        return None
    meta = read_metadata(file)
    if meta.get("model") not in ("pretrainer", "classifier"):
        return None
    tensors = load_file(str(file))
    if meta["model"] == "classifier":
        saved = json.loads(meta["classifier"])
        model = fine_tuned(saved, tensors, str(file))
        return (model if kind == "classifier" else model.encoder), ClipSpec.of(saved["clip"])
    if kind == "classifier":
        raise ValueError(
            f"{path} is a pretraining checkpoint: it has no classifier (fine-tune it first)"
        )
    encoder = VideoEncoder(EncoderConfig(**json.loads(meta["encoder"])))
    return pretrained_encoder(encoder, tensors, str(file)), ClipSpec.of(json.loads(meta["clip"]))


def random_config(name: str) -> PretrainConfig:
    """A preset's config, or (for a model name that is no preset) the defaults with it."""
    model = name in list_models() and name not in list_presets()
    return (
        load_pretrain_config(None, [f"model.arch={name}"]) if model else load_pretrain_config(name)
    )


def encoder_for(config: PretrainConfig, seed: int) -> VideoEncoder:
    """The encoder a pretraining run of ``config`` starts from with ``seed`` (built alone:
    a SIGMA-DINO run's DINO weights file need not be there)."""
    torch.manual_seed(seed)
    return build_encoder(config.resolved().model)


def checkpoint_folder(path: Path) -> Path:
    """A checkpoint's ``model.safetensors`` stands for its folder (which knows its run)."""
    if path.is_file() and path.name == "model.safetensors" and (path.parent / "state.pt").exists():
        return path.parent
    return path


def pretraining_checkpoint(path: Path) -> tuple[PretrainConfig, Path]:
    """``(the run's config, the checkpoint folder)`` of a pretraining run (its latest
    checkpoint) or of one of its checkpoint folders."""
    if (path / "config.json").exists():
        run_dir, found = path, list_checkpoints(path)
        if not found:
            raise ValueError(f"run {path} has no checkpoint yet")
        checkpoint = found[-1]
    elif (path / "model.safetensors").exists():
        checkpoint, run_dir = path, path.parent.parent
        if not (run_dir / "config.json").exists():  # an earlier version's, moved
            raise ValueError(
                f"{path}: its weights do not say what they are (written by an earlier "
                "version); load it from inside its run folder, whose config.json says"
            )
    else:
        raise ValueError(
            f"{path} is neither a run directory, a checkpoint folder nor a checkpoint file"
        )
    return load_pretrain_config(str(run_dir / "config.json")), checkpoint


def pretrainer_state(source: str | Path) -> dict[str, Tensor]:
    """The pretrainer state dict stored at ``source`` (an official pretraining ``.pth``, a
    checkpoint folder or a pretraining run's latest checkpoint), in our key layout."""
    path = checkpoint_folder(Path(source))
    if path.is_file():
        return pretrainer_weights(read_checkpoint(path)[0])
    if (path / "model.safetensors").exists():
        return load_checkpoint(path)[0]
    if (path / "config.json").exists():
        found = list_checkpoints(path)
        if not found:
            raise ValueError(f"run {path} has no checkpoint yet")
        return load_checkpoint(found[-1])[0]
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    raise ValueError(f"{path} is neither an official .pth, a checkpoint folder nor a run")


def load_classifier_meta(run_dir: str | Path) -> dict[str, Any]:
    """The architecture, class count and clip settings a fine-tuning run saved."""
    path = Path(run_dir) / CLASSIFIER_FILE
    if not path.exists():
        raise ValueError(f"{run_dir} is not a fine-tuning run ({CLASSIFIER_FILE} is missing)")
    return json.loads(path.read_text())


def _classifier(path: Path) -> tuple[VideoClassifier, ClipSpec]:
    path = checkpoint_folder(path)
    if path.is_file():
        model, clip = official_classifier(path)
        return model, ClipSpec.of(clip)
    run_dir, checkpoint = path, None
    if not (path / CLASSIFIER_FILE).exists():
        run_dir, checkpoint = path.parent.parent, path
        if not (run_dir / CLASSIFIER_FILE).exists():
            raise ValueError(
                f"{path} is neither a fine-tuning run, one of its checkpoints, nor a "
                "fine-tuned .pth (a pretraining run has no classifier: fine-tune it first)"
            )
    meta = load_classifier_meta(run_dir)
    if checkpoint is None:
        found = list_checkpoints(run_dir)
        if not found:
            raise ValueError(f"run {run_dir} has no checkpoint yet")
        checkpoint = found[-1]
    weights, _ = load_checkpoint(checkpoint)
    return fine_tuned(meta, weights, str(checkpoint)), ClipSpec.of(meta["clip"])


def save_converted(encoder: VideoEncoder, clip: ClipSpec, folder: str | Path) -> Path:
    """``folder/encoder.safetensors`` + ``encoder.json`` (shape and clip settings)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    save_tensors(state, folder / CONVERTED_FILES[0])
    meta = {"encoder": dataclasses.asdict(encoder.config), "clip": clip.as_dict()}
    (folder / CONVERTED_FILES[1]).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def converted_encoder(folder: Path) -> tuple[VideoEncoder, ClipSpec]:
    meta = json.loads((folder / CONVERTED_FILES[1]).read_text())
    encoder = VideoEncoder(EncoderConfig(**meta["encoder"]))
    state = load_file(str(folder / CONVERTED_FILES[0]))
    check_fit(encoder.state_dict(), state, str(folder), "this encoder", strict=True)
    encoder.load_state_dict(state)
    return encoder.eval(), ClipSpec.of(meta["clip"])
