"""A SEVERE suite: the fine-tuning tasks of one results table, read from a TOML file.

    [suite]
    name = "SEVERE (SIGMA Tab. 5)"

    [[task]]
    name = "SSv2"                 # the column
    group = "domain shift"        # the column group
    task = "classification"       # classification | multilabel | counting
    preset = "vit_b_ssv2"         # a fine-tuning preset (or .toml path)
    train = "ssv2/train.json"     # lists, relative to --data-root (absolute paths as they are)
    val = "ssv2/validation.json"
    test = "ssv2/validation.json" # optional (default: val)
    videos = "ssv2/videos"        # optional: where the lists' relative paths lie
    subset = 1000                 # optional: SEVERE's low-shot training subset
    overrides = ["optim.epochs=30"]

A task without ``train`` and ``val`` runs on the embedded generated data of its kind
(``finetuning.trainer.embedded_lists``). Presets: ``sigma_video/configs/severe``
(``paper``: the paper's eight columns; ``embedded``: the CI suite on generated videos).
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sigma_video.config import PRESET_DIR
from sigma_video.finetuning.tasks import TASKS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUITE_PRESETS = PRESET_DIR / "severe"


@dataclass(frozen=True)
class SevereTask:
    """One column of the table (see the module docstring for the keys)."""

    name: str
    """the column; its slug names the task's run folder"""
    preset: str
    """fine-tuning preset (or `.toml` path) the task starts from"""
    group: str = ""
    """the column group (`Groups:` line of the table)"""
    task: str = "classification"
    """`classification`, `multilabel` or `counting` (`model.task`)"""
    train: str | None = None
    """training list, relative to `--data-root` (unset with `val`: the embedded data)"""
    val: str | None = None
    """validation list, relative to `--data-root`"""
    test: str | None = None
    """test list (`unset`: `val`)"""
    videos: str | None = None
    """where the lists' relative paths lie, under `--data-root` (`data.data_root`)"""
    subset: int | None = None
    """SEVERE's low-shot training subset (`data.subset`)"""
    overrides: tuple[str, ...] = ()
    """the task's own `key=value` overrides, after the preset"""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task {self.name!r}: task must be one of {TASKS}, got {self.task!r}")
        if (self.train is None) != (self.val is None):
            raise ValueError(f"task {self.name!r}: give both train and val, or neither (embedded)")
        if self.subset is not None and self.subset < 1:
            raise ValueError(f"task {self.name!r}: subset must be >= 1, got {self.subset}")

    @property
    def slug(self) -> str:
        """The task's folder name under the results folder."""
        text = "".join(c if c.isalnum() else "_" for c in self.name.lower())
        return "_".join(part for part in text.split("_") if part) or "task"

    def paths(self, data_root: str | None) -> dict[str, str | None]:
        """``train``/``val``/``test``/``videos`` joined to ``data_root``."""

        def join(path: str | None) -> str | None:
            if path is None or data_root is None or Path(path).is_absolute():
                return path
            return str(Path(data_root) / path)

        return {
            "train": join(self.train),
            "val": join(self.val),
            "test": join(self.test),
            "videos": join(self.videos) if self.videos else data_root,
        }


@dataclass(frozen=True)
class Suite:
    name: str
    """the results table's title (`unset`: the file's name)"""
    tasks: tuple[SevereTask, ...] = field(default_factory=tuple)


def _task(entry: Any, number: int, source: str) -> SevereTask:
    if not isinstance(entry, dict):
        raise ValueError(f"{source}: [[task]] {number} is not a table")
    known = {f.name for f in fields(SevereTask)}
    for key in entry:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{source}: [[task]] {number}: unknown key {key!r}{hint}")
    for key in ("name", "preset"):
        if key not in entry:
            raise ValueError(f"{source}: [[task]] {number} needs {key!r}")
    overrides = entry.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(x, str) for x in overrides):
        raise ValueError(f"{source}: [[task]] {number}: overrides must be a list of 'key=value'")
    return SevereTask(**{**entry, "overrides": tuple(overrides)})


def load_suite(source: str | Path) -> Suite:
    """A suite preset by name (``paper``, ``embedded``) or a ``.toml`` path."""
    path = Path(source)
    if not path.suffix:
        path = SUITE_PRESETS / f"{source}.toml"
        if not path.exists():
            names = sorted(p.stem for p in SUITE_PRESETS.glob("*.toml"))
            raise ValueError(f"unknown suite {source!r}: a .toml file or one of {names}")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"cannot read suite {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"suite {path} is not valid TOML: {err}") from None
    unknown = set(values) - {"suite", "task"}
    if unknown:
        raise ValueError(f"suite {path}: unknown section(s) {sorted(unknown)} (suite, task)")
    entries = values.get("task", [])
    if not entries:
        raise ValueError(f"suite {path} lists no [[task]]")
    tasks = tuple(_task(entry, i + 1, str(path)) for i, entry in enumerate(entries))
    slugs = [t.slug for t in tasks]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"suite {path}: two tasks share a name ({slugs})")
    return Suite(values.get("suite", {}).get("name", path.stem), tasks)
