"""Starting a new pretraining run from existing weights (``run.init``, ``pretrain --init``).

The source is an official SIGMA/VideoMAE pretraining ``.pth`` (its keys mapped by
``interop.pretrainer_weights``, loaded without running pickled code), one of our checkpoint
folders, or one of our pretraining runs (its latest checkpoint). Only the weights travel:
the optimizer, the step, the schedule and the data order start fresh (``--resume`` is for
continuing a run exactly). Frozen parts (a DINO φ) come from their own files as always.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from sigma_video.engine.checkpoint import (
    frozen_prefixes,
    list_checkpoints,
    load_checkpoint,
    unwrap,
)
from sigma_video.interop.reference import mismatch, pretrainer_weights, read_checkpoint


def init_weights(source: str | Path) -> dict[str, Tensor]:
    """The pretrainer state dict stored at ``source``, in our key layout."""
    path = Path(source)
    if path.is_file() and path.name == "model.safetensors":
        path = path.parent
    if path.is_file():
        return pretrainer_weights(read_checkpoint(path)[0])
    if (path / "model.safetensors").exists():
        return load_checkpoint(path)[0]
    if (path / "config.json").exists():
        found = list_checkpoints(path)
        if not found:
            raise ValueError(f"--init {path}: the run has no checkpoint yet")
        return load_checkpoint(found[-1])[0]
    if not path.exists():
        raise ValueError(f"--init {path}: no such file or folder")
    raise ValueError(
        f"--init {path}: neither an official .pth, a checkpoint folder nor a pretraining run"
    )


def load_init(model: nn.Module, source: str | Path) -> list[str]:
    """Load ``source``'s weights into the pretrainer ``model`` (every trainable tensor must
    be there with its shape; a checkpoint of another variant or size is refused in one
    line). Returns the keys of ``source`` that this model has no place for (ignored)."""
    state = init_weights(source)
    plain = unwrap(model)
    skip = frozen_prefixes(plain)
    expected = {k: v for k, v in plain.state_dict().items() if not k.startswith(skip)}
    detail = mismatch(expected, state, strict=False)
    if detail:
        raise ValueError(
            f"--init {source} is a checkpoint of another variant or size ({detail}); "
            "match model.model, model.target, model.objective, model.num_prototypes and "
            "model.patch to it"
        )
    plain.load_state_dict({k: state[k] for k in expected}, strict=False)
    return sorted(set(state) - set(expected) - {k for k in state if k.startswith(skip)})
