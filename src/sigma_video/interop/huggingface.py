"""Deprecated location: ``sigma_video.io.huggingface``."""

from sigma_video.io.huggingface import export_videomae, import_videomae, is_videomae_folder

__all__ = ["export_videomae", "import_videomae", "is_videomae_folder"]
