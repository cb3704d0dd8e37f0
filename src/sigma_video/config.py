"""Typed run configuration: defaults -> preset file -> ``key=value`` overrides.

Every component has a dataclass; ``TrainConfig`` holds them under the names ``model``,
``data``, ``optim`` and ``run``. Presets are TOML files in ``sigma_video/configs`` (by name,
e.g. ``demo``, ``vit_b_k400_mlp``) or any ``.toml``/``.json`` path (a run directory's
``config.json`` included). Overrides use dotted keys (``optim.base_lr=3e-4``); an unknown key
or a value of the wrong type raises ``ValueError`` naming the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma_video.data.dataset import CROPS
from sigma_video.pretrainer import PretrainerConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRESET_DIR = Path(__file__).parent / "configs"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _at_least_one(section: Any, prefix: str, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(section, name) < 1:
            raise ValueError(f"{prefix}.{name} must be >= 1, got {getattr(section, name)}")


@dataclass
class DataConfig:
    """Where the clips come from and how they are cut.

    ``train``: an annotation list or a folder of videos; None uses the embedded dataset.
    ``stride``: 2 for SSv2, 4 for K400 (reference). ``num_sample``: views per decode.
    """

    train: str | None = None
    data_root: str | None = None
    num_frames: int = 16
    stride: int = 4
    size: int = 224
    crop: str = "multiscale"
    num_sample: int = 1
    workers: int = 8
    backend: str = "pyav"
    time_limit: float = 30.0
    max_bad_fraction: float = 0.05

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"data.crop must be one of {CROPS}, got {self.crop!r}")
        if self.workers < 0:
            raise ValueError(f"data.workers must be >= 0, got {self.workers}")
        _at_least_one(self, "data", ("num_frames", "stride", "size", "num_sample"))


@dataclass
class OptimConfig:
    """AdamW with per-step warm-up + cosine, as VideoMAE/SIGMA.

    ``batch_size`` is per process and micro-step; the global batch is
    ``batch_size · accum_steps · world_size`` (times ``data.num_sample``), and ``base_lr``,
    ``min_lr`` and ``warmup_lr`` are scaled by global batch / 256. The warm-up rises linearly
    from ``warmup_lr`` (0, as the official scripts: they never pass their ``--warmup_lr`` to
    the scheduler) to the base lr. ``max_steps`` ends a run early (the schedule still spans
    ``epochs``).
    """

    epochs: int = 800
    warmup_epochs: float = 40.0
    batch_size: int = 32
    accum_steps: int = 1
    base_lr: float = 1.5e-4
    min_lr: float = 1e-5
    warmup_lr: float = 0.0
    weight_decay: float = 0.05
    weight_decay_end: float | None = None
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float | None = None
    max_steps: int | None = None

    def __post_init__(self) -> None:
        _at_least_one(self, "optim", ("epochs", "batch_size", "accum_steps"))
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(
                f"optim.warmup_epochs must be in [0, epochs], got {self.warmup_epochs}"
            )
        if self.base_lr <= 0:
            raise ValueError(f"optim.base_lr must be > 0, got {self.base_lr}")


@dataclass
class BaseRunConfig:
    """Where outputs go and how the run behaves.

    ``precision="auto"``: bf16 autocast on CUDA, fp32 on CPU; ``fp16`` adds a grad scaler.
    ``tf32``: float32 matrix products that stay float32 under autocast (the prototype scores)
    use TF32 tensor cores on CUDA — a 10-bit mantissa, as the reference's fp16 autocast.
    ``save_every``/``log_every`` count optimizer steps; ``save_every_minutes`` (0: off) also
    saves when that much time has passed since the last checkpoint, so a pre-empted job
    loses little. SIGINT, SIGTERM or SIGUSR1 end a run after its current step with a
    checkpoint (``--resume auto`` continues it).
    """

    output: str = "runs/sigma"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    tf32: bool = True
    log_every: int = 10
    save_every: int = 1000
    save_every_minutes: float = 0.0
    keep_last: int = 3
    max_nonfinite: int = 5
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"run.precision must be one of {PRECISIONS}, got {self.precision!r}")
        _at_least_one(self, "run", ("log_every", "save_every", "keep_last", "max_nonfinite"))
        if not self.save_every_minutes >= 0:
            raise ValueError(f"run.save_every_minutes must be >= 0, got {self.save_every_minutes}")


@dataclass
class RunConfig(BaseRunConfig):
    """Pretraining run settings; ``probe_after`` (the demo) ends the run with a linear
    probe of the encoder against its random initialisation. ``init``: start from the
    weights of an official pretraining ``.pth``, one of our checkpoint folders or runs
    (weights only: optimizer, step and schedule start fresh; ``--resume`` continues a run
    exactly)."""

    probe_after: bool = False
    init: str | None = None


@dataclass
class TrainConfig:
    model: PretrainerConfig = field(default_factory=PretrainerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


def list_presets(folder: Path = PRESET_DIR) -> list[str]:
    """Preset names of pretraining (default) or fine-tuning (``PRESET_DIR / "finetune"``)."""
    return sorted(p.stem for p in folder.glob("*.toml"))


def load_config(
    preset: str | None = None,
    overrides: list[str] | None = None,
    cls: type = TrainConfig,
    folder: Path = PRESET_DIR,
) -> Any:
    """Defaults of ``cls``, then the preset (a name in ``folder`` or a .toml/.json path),
    then dotted overrides."""
    values: dict[str, Any] = {}
    if preset is not None:
        values = read_preset(preset, folder)
    for item in overrides or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form key=value")
        _set(values, key.strip(), text.strip(), raw=True)
    return build(cls, values, "")


def read_preset(preset: str, folder: Path = PRESET_DIR) -> dict[str, Any]:
    path = Path(preset)
    if not path.suffix:
        path = folder / f"{preset}.toml"
        if not path.exists():
            names = list_presets(folder)
            close = difflib.get_close_matches(preset, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown preset {preset!r}; {hint}presets: {', '.join(names)}")
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except OSError as err:
        raise ValueError(f"cannot read config {path}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"config {path} is not valid: {err}") from None


def _set(values: dict[str, Any], key: str, value: Any, raw: bool = False) -> None:
    head, _, rest = key.partition(".")
    if rest:
        node = values.setdefault(head, {})
        if not isinstance(node, dict):
            raise ValueError(f"{head!r} is not a section")
        _set(node, rest, value, raw)
    else:
        values[head] = _Raw(value) if raw else value


@dataclass(frozen=True)
class _Raw:
    """A value typed on the command line, parsed against the field's type."""

    text: str


def build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    """Make dataclass ``cls`` from nested ``values``, checking keys and types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    renamed = getattr(cls, "RENAMED_KEYS", {})  # earlier names still read (old run configs)
    kwargs = {}
    for key, value in values.items():
        key = renamed.get(key, key)
        name = f"{prefix}{key}"
        if key not in fields:
            valid = [f"{prefix}{k}" for k in fields]
            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"
            raise ValueError(f"unknown config key {name!r}; {hint}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise ValueError(f"config key {name!r} is a section; set {name}.<key>=...")
            kwargs[key] = build(kind, value, f"{name}.")
        else:
            kwargs[key] = convert(value, kind, name)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad config for {prefix.rstrip('.') or 'run'}: {err}") from None


def convert(value: Any, kind: Any, name: str) -> Any:
    """Coerce a TOML/JSON value or command-line text to the annotated type."""
    raw = isinstance(value, _Raw)
    if raw:
        value = value.text
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (raw and value.lower() in ("none", "null", ""))
        if is_none and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return convert(_Raw(value) if raw else value, inner[0], name)
    if origin is tuple:
        items = value.split(",") if raw else value
        if not isinstance(items, list | tuple):
            raise ValueError(f"config key {name!r} expects a list, got {value!r}")
        inner = args[0]
        fixed = len(args) != 2 or args[1] is not Ellipsis
        if fixed and len(items) != len(args):
            raise ValueError(f"config key {name!r} expects {len(args)} values, got {value!r}")
        return tuple(convert(_Raw(str(i).strip()) if raw else i, inner, name) for i in items)
    try:
        if kind is bool:
            if raw:
                if value.lower() not in ("true", "false"):
                    raise ValueError
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind is int:
            if isinstance(value, bool) or (not raw and not isinstance(value, int)):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            if not raw and not isinstance(value, str):
                raise ValueError
            return str(value)
    except (ValueError, TypeError):
        pretty = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
        raise ValueError(
            f"config key {name!r} expects {pretty.get(kind, kind)}, got {value!r}"
        ) from None
    raise ValueError(f"config key {name!r} has unsupported type {kind}")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(config), indent=2) + "\n", encoding="utf-8")


def config_changes(saved: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two resolved configs (``to_dict`` or a
    saved ``config.json``): ``{"optim.epochs": (60, 600)}``. Tuples and lists compare equal."""
    changes: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(saved) | set(new)):
        a, b = saved.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            for sub, pair in config_changes(a, b).items():
                changes[f"{key}.{sub}"] = pair
        elif json.loads(json.dumps(a)) != json.loads(json.dumps(b)):
            changes[key] = (a, b)
    return changes
