"""The cache folder the generated datasets live in, building a dataset folder atomically,
and the ``classes.json`` that says which format and settings made a finished one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sigma_video.files import umask_mode
from sigma_video.synth.spec import APPEARANCE_CLASSES


def default_cache_dir() -> Path:
    """``$SIGMA_VIDEO_CACHE`` or ``$XDG_CACHE_HOME/sigma-video`` (``~/.cache/sigma-video``)."""
    if os.environ.get("SIGMA_VIDEO_CACHE"):
        return Path(os.environ["SIGMA_VIDEO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sigma-video"


@contextmanager
def building(root: Path) -> Iterator[Path]:
    """A fresh folder beside ``root`` to write into; it replaces ``root`` when the block
    ends, and is removed if the block fails (so a half-written dataset never shows)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    os.chmod(work, umask_mode(directory=True))  # mkdtemp makes it private (0700)
    try:
        yield work
        if root.exists():
            shutil.rmtree(root)
        os.replace(work, root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def write_meta(work: Path, version: int, config: Any, **names: list[str]) -> None:
    """``classes.json``: the format version, the generator's settings, the class names."""
    meta = {
        "format_version": version,
        "config": asdict(config),
        **names,
        "appearance_classes": list(APPEARANCE_CLASSES),
    }
    (work / "classes.json").write_text(json.dumps(meta, indent=2) + "\n")


def finished(root: Path, config: Any, version: int) -> bool:
    """True if ``root/classes.json`` says it was made by ``version`` with ``config``."""
    try:
        meta = json.loads((root / "classes.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    saved = json.loads(json.dumps(asdict(config)))  # tuples as lists, as in the file
    return meta.get("format_version") == version and meta.get("config") == saved
