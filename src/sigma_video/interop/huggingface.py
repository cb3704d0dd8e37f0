"""Deprecated location: ``sigma_video.io.huggingface``."""

from sigma_video.io.huggingface import (
    BLOCK_PAIRS,
    export_videomae,
    from_hf_state,
    hf_config,
    import_videomae,
    is_videomae_folder,
    to_hf_state,
)

__all__ = [
    "BLOCK_PAIRS",
    "export_videomae",
    "from_hf_state",
    "hf_config",
    "import_videomae",
    "is_videomae_folder",
    "to_hf_state",
]
