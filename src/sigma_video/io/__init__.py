"""Loading and saving models: every checkpoint format in, one ``(model, ClipSpec)`` out
(``ClipSpec``: ``sigma_video.data.clip``).

``load.load_model`` recognises our runs and checkpoints, converted and Hugging Face
folders, official SIGMA/VideoMAE files and ``random:NAME``; ``keys`` maps the official key
layout (the one prefix stripper and fit check are ``sigma_video.state_dict``, a leaf the
model code uses too); ``official`` reads the
authors' files without running pickled code; ``huggingface`` converts to and from
``transformers`` VideoMAE. Names below are imported on first use.
"""

from typing import TYPE_CHECKING

from sigma_video.lazy import lazy_getattr

_LAZY = {
    "load_model": "sigma_video.io.load",
    "save_converted": "sigma_video.io.load",
    "read_checkpoint": "sigma_video.io.official",
    "pretrainer_weights": "sigma_video.io.keys",
}

if TYPE_CHECKING:
    from sigma_video.io.keys import pretrainer_weights
    from sigma_video.io.load import load_model, save_converted
    from sigma_video.io.official import read_checkpoint


__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = [
    "load_model",
    "pretrainer_weights",
    "read_checkpoint",
    "save_converted",
]
