"""Names a package exports but imports on first use (so that ``sigma-video --help`` and
``import sigma_video`` load no torch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_getattr(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``name`` from ``where[name]`` when asked."""

    def __getattr__(name: str) -> object:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
