"""The configuration loader: dataclass defaults -> preset file -> ``key=value`` overrides.

Generic: it knows no component. Each component defines its settings as a dataclass beside
its code and validates them there (``PretrainerConfig`` in ``models.config``,
``MaskSettings`` in ``masks.builder``, ``DataConfig`` in
``data.config``, ``OptimConfig``/``BaseRunConfig`` in ``engine.config``,
``RunConfig``/``PretrainConfig`` in ``pretraining.config``, the fine-tuning ones in
``finetuning.config``). Presets are TOML files in ``sigma_video/configs`` (by name, e.g.
``demo``, ``vit_b_k400_mlp``) or any ``.toml``/``.json`` path (a run directory's
``config.json`` included). Overrides use dotted keys (``optim.base_lr=3e-4``); an unknown
key or a value of the wrong type raises ``ValueError`` naming the closest valid key. A run's
saved ``config.json`` written with keys that have since been renamed still reads: its class
lists them (``EARLIER_KEYS``, dotted old name -> new name) and ``upgrade_saved`` renames
them, for saved files only.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import itertools
import json
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRESET_DIR = Path(__file__).parent / "configs"


def list_presets(folder: Path = PRESET_DIR) -> list[str]:
    """Preset names of pretraining (default) or fine-tuning (``PRESET_DIR / "finetune"``)."""
    return sorted(p.stem for p in folder.glob("*.toml"))


def load_config(
    preset: str | None = None,
    overrides: list[str] | None = None,
    *,
    cls: type,
    folder: Path = PRESET_DIR,
) -> Any:
    """Defaults of ``cls``, then the preset (a name in ``folder`` or a .toml/.json path),
    then dotted overrides (``pretraining.config.load_pretrain_config`` and
    ``finetuning.config.load_finetune_config`` name their class)."""
    values: dict[str, Any] = {}
    if preset is not None:
        values = read_preset(preset, folder)
        if Path(preset).suffix == ".json":  # a run's saved config, maybe an earlier version's
            values = upgrade_saved(values, getattr(cls, "EARLIER_KEYS", {}))
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


def upgrade_saved(values: dict[str, Any], earlier: dict[str, str]) -> dict[str, Any]:
    """``values`` (nested) with each dotted key of ``earlier`` renamed to its new name. An
    earlier key holds a value, never a section: where the name now holds a section (an old
    ``model.target = "mlp"`` beside a new ``[model.target]``) only the value is moved. All
    old values are taken out before any is set, so an old name may become a section."""
    values = json.loads(json.dumps(values))  # a copy
    moved = []
    for old, new in earlier.items():
        *path, name = old.split(".")
        node = values
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and name in node and not isinstance(node[name], dict):
            moved.append((new, node.pop(name)))
    for new, value in moved:
        _set(values, new, value)
    return values


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
    kwargs = {}
    for key, value in values.items():
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
        empty = raw and value.strip().lower() in ("", "none")  # an empty list
        items = ([] if empty else value.split(",")) if raw else value
        if not isinstance(items, list | tuple):
            raise ValueError(f"config key {name!r} expects a list, got {value!r}")
        inner = args[0]
        if dataclasses.is_dataclass(inner):  # a list of tables, or ``a=1,b=2`` typed
            return tuple(table(item, inner, name) for item in items)
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


def table(item: Any, kind: type, name: str) -> Any:
    """One entry of a list of tables: a TOML/JSON table, or command-line text
    ``FIRST=SECOND`` naming the dataclass's first two fields (``path=weight``)."""
    if isinstance(item, dict):
        return build(kind, item, f"{name}[].")
    first, second = (f.name for f in dataclasses.fields(kind)[:2])
    head, sep, tail = str(item).strip().rpartition("=")
    if not sep or not head:
        raise ValueError(f"config key {name!r} expects {first}={second} entries, got {item!r}")
    return build(kind, {first: _Raw(head), second: _Raw(tail)}, f"{name}[].")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(config), indent=2) + "\n", encoding="utf-8")


def config_changes(
    saved: dict[str, Any], new: dict[str, Any], ignore: frozenset[str] = frozenset()
) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two resolved configs (``to_dict`` or a
    saved ``config.json``): ``{"optim.epochs": (60, 600)}``. Tuples and lists compare equal;
    the dotted keys in ``ignore`` are not compared."""
    changes: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(saved) | set(new)):
        a, b = saved.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = frozenset(k.split(".", 1)[1] for k in ignore if k.startswith(f"{key}."))
            for sub, pair in config_changes(a, b, inner).items():
                changes[f"{key}.{sub}"] = pair
        elif key not in ignore and json.loads(json.dumps(a)) != json.loads(json.dumps(b)):
            changes[key] = (a, b)
    return changes


def session_keys(cls: type, prefix: str = "") -> frozenset[str]:
    """Dotted keys of ``cls`` that say how one session runs, not what the run trains
    (loader workers, logging, checkpoint cadence, the closing evaluation): each section
    dataclass lists its own in ``SESSION_KEYS``. A resume may change them freely."""
    keys = {f"{prefix}{name}" for name in getattr(cls, "SESSION_KEYS", ())}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            keys |= session_keys(hints[f.name], f"{prefix}{f.name}.")
    return frozenset(keys)


def config_keys(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    """Every user-facing key of config dataclass ``cls`` as ``(dotted key, default)``, in
    field order, sections expanded (``("optim.base_lr", 1.5e-4)``); a required key's default
    is ``dataclasses.MISSING``."""
    hints = typing.get_type_hints(cls)
    keys: list[tuple[str, Any]] = []
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            keys += config_keys(hints[f.name], f"{name}.")
        elif f.default_factory is not dataclasses.MISSING:
            keys.append((name, f.default_factory()))
        else:
            keys.append((name, f.default))
    return keys


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring, the string literal written under it in the class body (as
    Sphinx and IDEs read them), over ``cls``'s dataclass bases too, whitespace folded:
    ``{"ratio": "share of the tubes hidden"}``."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_own_field_docs(klass))
    return docs


@functools.cache
def _own_field_docs(cls: type) -> dict[str, str]:
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # defined where no source is kept
        return {}
    (body,) = ast.parse(inspect.cleandoc("\n" + source)).body
    docs = {}
    statements = body.body if isinstance(body, ast.ClassDef) else []
    for node, after in itertools.pairwise(statements):
        field = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        literal = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        text = after.value.value if literal else None
        if field and isinstance(text, str):
            docs[node.target.id] = " ".join(text.split())
    return docs


def config_docs(cls: type, prefix: str = "") -> dict[str, str]:
    """``field_docs`` of ``cls`` and its sections by dotted key (``"mask.flow.init"``)."""
    hints = typing.get_type_hints(cls)
    docs = {f"{prefix}{name}": doc for name, doc in field_docs(cls).items()}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            docs |= config_docs(hints[f.name], f"{prefix}{f.name}.")
    return docs
