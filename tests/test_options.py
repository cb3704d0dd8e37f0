"""``docs/options.md`` against the code: every config key has a row, every row is a key,
the defaults are the code's, each row says what its field's docstring says (the text
``sigma-video config`` prints), and each row names tests that exist."""

import ast
import dataclasses
import functools
import re
import sys
from pathlib import Path

import pytest

from sigma_video.config import config_docs, config_keys, field_docs, load_config
from sigma_video.finetuning.config import FinetuneConfig
from sigma_video.pretraining.config import PretrainConfig
from sigma_video.severe.suite import SevereTask, Suite

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ROOT / "docs" / "options.md"
ROW = re.compile(
    r"^\| `(?P<key>[^`]+)` \| (?P<default>[^|]+) \| (?P<what>[^|]+) \| (?P<tests>.+) \|$"
)
TEST_REF = re.compile(r"`(tests/[^`:]+\.py)::(\w+)`")


def tables() -> dict[str, dict[str, dict[str, str]]]:
    """Each ``## `` section's rows: key -> {default, what, tests}."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    section = None
    for line in OPTIONS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line
            found[section] = {}
        elif section is not None and (row := ROW.match(line)):
            key = row["key"]
            assert key not in found[section], f"{key} is listed twice in {section}"
            found[section][key] = {k: row[k].strip() for k in ("default", "what", "tests")}
    return found


def section_of(marker: str) -> dict[str, dict[str, str]]:
    (title,) = [t for t in tables() if marker in t]
    return tables()[title]


def attribute(config: object, key: str) -> object:
    return functools.reduce(getattr, key.split("."), config)


def check_config_defaults(cls: type, rows: dict[str, dict[str, str]]) -> list[str]:
    """A row's default, read as an override, gives the code's default."""
    problems = []
    for key, default in config_keys(cls):
        if key not in rows:
            continue
        text = rows[key]["default"].strip("`")
        try:
            value = attribute(load_config(None, [f"{key}={text}"], cls=cls), key)
        except ValueError as err:
            problems.append(f"{key}: default {text!r} does not load: {err}")
            continue
        if value != default:
            problems.append(f"{key}: the table says {text!r}, the code {default!r}")
    return problems


def check_toml_defaults(
    keys: list[tuple[str, object]], rows: dict[str, dict[str, str]]
) -> list[str]:
    """A suite row's default: ``required``, ``unset`` (None) or a TOML value."""
    problems = []
    for key, default in keys:
        if key not in rows:
            continue
        text = rows[key]["default"]
        if default is dataclasses.MISSING:
            value: object = dataclasses.MISSING if text == "required" else text
        elif text == "`unset`":
            value = None
        else:
            value = tomllib.loads(f"value = {text.strip('`')}")["value"]
            default = list(default) if isinstance(default, tuple) else default
        if value != default:
            problems.append(f"{key}: the table says {text}, the code {default!r}")
    return problems


@functools.cache
def functions_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def check_rows(keys: list[tuple[str, object]], rows: dict[str, dict[str, str]]) -> list[str]:
    names = [key for key, _ in keys]
    problems = [f"{key}: no row" for key in names if key not in rows]
    problems += [f"{key}: listed, but not a key" for key in rows if key not in names]
    for key, row in rows.items():
        refs = TEST_REF.findall(row["tests"])
        if not refs:
            problems.append(f"{key}: names no test (`tests/path.py::test_name`)")
        for path, name in refs:
            if not (ROOT / path).exists():
                problems.append(f"{key}: {path} does not exist")
            elif name not in functions_in(path):
                problems.append(f"{key}: {path} has no test {name}")
        if not row["what"]:
            problems.append(f"{key}: says nothing of what it does")
    return problems


def check_docs(docs: dict[str, str], rows: dict[str, dict[str, str]]) -> list[str]:
    """Each key has a docstring and its row's "what" is that docstring."""
    problems = []
    for key, row in rows.items():
        if key not in docs:
            problems.append(f"{key}: the field has no docstring")
        elif row["what"] != docs[key]:
            problems.append(f"{key}: the row says {row['what']!r}, the docstring {docs[key]!r}")
    return problems


SUITE_DOCS = {"suite.name": field_docs(Suite)["name"], **config_docs(SevereTask, "task.")}
SUITE_KEYS = [("suite.name", None), *config_keys(SevereTask, "task.")]  # [suite], [[task]]


@pytest.mark.parametrize(
    ("marker", "keys", "defaults"),
    [
        (
            "`PretrainConfig`",
            config_keys(PretrainConfig),
            lambda rows: (
                check_config_defaults(PretrainConfig, rows)
                + check_docs(config_docs(PretrainConfig), rows)
            ),
        ),
        (
            "`FinetuneConfig`",
            config_keys(FinetuneConfig),
            lambda rows: (
                check_config_defaults(FinetuneConfig, rows)
                + check_docs(config_docs(FinetuneConfig), rows)
            ),
        ),
        (
            "SEVERE",
            SUITE_KEYS,
            lambda rows: check_toml_defaults(SUITE_KEYS, rows) + check_docs(SUITE_DOCS, rows),
        ),
    ],
)
def test_the_options_table_matches_the_code(marker, keys, defaults):
    rows = section_of(marker)
    problems = check_rows(keys, rows) + defaults(rows)
    assert not problems, "docs/options.md:\n" + "\n".join(problems)


def test_config_keys_lists_dotted_keys_with_their_defaults():
    keys = dict(config_keys(PretrainConfig))
    assert keys["optim.base_lr"] == 1.5e-4 and keys["model.arch"] == "vit_base"
    assert keys["optim.betas"] == (0.9, 0.95) and keys["run.init"] is None
    assert "model" not in keys and "optim" not in keys  # sections are expanded
    assert len(keys) == len(config_keys(PretrainConfig))  # no key twice
    task = dict(config_keys(SevereTask))
    assert task["name"] is dataclasses.MISSING and task["overrides"] == ()


def test_the_checks_find_each_kind_of_mistake():
    keys = [("optim.epochs", 800), ("optim.base_lr", 1.5e-4)]
    rows = {
        "optim.epochs": {
            "default": "`80`",
            "what": "epochs",
            "tests": "`tests/test_options.py::nope`",
        },
        "optim.gone": {"default": "`1`", "what": "x", "tests": "`tests/nowhere.py::test_x`"},
    }
    problems = check_rows(keys, rows) + check_config_defaults(PretrainConfig, rows)
    assert problems == [
        "optim.base_lr: no row",
        "optim.gone: listed, but not a key",
        "optim.epochs: tests/test_options.py has no test nope",
        "optim.gone: tests/nowhere.py does not exist",
        "optim.epochs: the table says '80', the code 800",
    ]
    assert check_docs({"optim.epochs": "epochs of the schedule"}, rows) == [
        "optim.epochs: the row says 'epochs', the docstring 'epochs of the schedule'",
        "optim.gone: the field has no docstring",
    ]
