"""Starting a new pretraining run from existing weights (``run.init``, ``pretrain --init``).

The source is an official SIGMA/VideoMAE pretraining ``.pth`` (its keys mapped to ours,
loaded without running pickled code), one of our checkpoint folders, or one of our
pretraining runs (its latest checkpoint): ``io.load.pretrainer_state``. Only the weights travel:
the optimizer, the step, the schedule and the data order start fresh (``--resume`` is for
continuing a run exactly). Frozen parts (a DINO φ) come from their own files as always.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from sigma_video.engine.checkpoint import frozen_prefixes, unwrap
from sigma_video.io.load import pretrainer_state
from sigma_video.state_dict import fit_problems


def load_init(model: nn.Module, source: str | Path) -> list[str]:
    """Load ``source``'s weights into the pretrainer ``model`` (every trainable tensor must
    be there with its shape; a checkpoint of another variant or size is refused in one
    line). Returns the keys of ``source`` that this model has no place for (ignored)."""
    state = pretrainer_state(source)
    plain = unwrap(model)
    skip = frozen_prefixes(plain)
    expected = {k: v for k, v in plain.state_dict().items() if not k.startswith(skip)}
    detail = fit_problems(expected, state, strict=False)
    if detail:
        raise ValueError(
            f"--init {source} is a checkpoint of another variant or size ({detail}); "
            "match model.arch, model.target.kind, model.objective.kind, "
            "model.objective.num_prototypes and model.encoder.patch to it"
        )
    plain.load_state_dict({k: state[k] for k in expected}, strict=False)
    return sorted(set(state) - set(expected) - {k for k in state if k.startswith(skip)})
