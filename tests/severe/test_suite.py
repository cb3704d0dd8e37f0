"""Each key of a SEVERE suite file, changed, changes the task's fine-tuning config or the
results table."""

import json
from pathlib import Path

import pytest

from sigma_video.severe import load_suite, run_suite
from sigma_video.severe.runner import task_config

BASE = {"name": "Gym", "preset": "demo"}
LISTS = {"train": "gym/train.txt", "val": "gym/val.txt"}


def suite_text(*tasks, name=None):
    head = "" if name is None else f"[suite]\nname = {json.dumps(name)}\n\n"
    entries = [
        "[[task]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in t.items()) for t in tasks
    ]
    return head + "\n".join(entries)


def config_of(tmp_path, entry):
    path = tmp_path / "suite.toml"
    path.write_text(suite_text(entry))
    (task,) = load_suite(path).tasks
    return task_config(task, "random:demo", "/data", tmp_path / "out", [])


@pytest.mark.parametrize(
    ("base", "change", "check"),
    [
        ({}, {"name": "UCF (10^3)"}, lambda c: Path(c.run.output).name == "ucf_10_3"),
        ({}, {"preset": "vit_b_ssv2"}, lambda c: c.data.sampling == "segments"),
        ({}, {"task": "counting"}, lambda c: c.model.task == "counting"),
        (
            {},
            LISTS,
            lambda c: (c.data.train, c.data.val) == ("/data/gym/train.txt", "/data/gym/val.txt"),
        ),
        (LISTS, {"test": "gym/test.txt"}, lambda c: c.data.test == "/data/gym/test.txt"),
        (LISTS, {"videos": "gym/clips"}, lambda c: c.data.data_root == "/data/gym/clips"),
        ({}, {"subset": 1000}, lambda c: c.data.subset == 1000),
        ({}, {"overrides": ["optim.epochs=3"]}, lambda c: c.optim.epochs == 3),
    ],
)
def test_task_key_changes_the_fine_tuning_config(tmp_path, base, change, check):
    assert check(config_of(tmp_path, {**BASE, **base, **change}))
    assert not check(config_of(tmp_path, {**BASE, **base}))  # the check tells the two apart


def test_suite_name_and_groups_head_the_table(tmp_path):
    """``[suite] name`` titles the table (default: the file's name); ``group`` lists the
    columns by group. Tasks whose lists are missing are skipped: nothing trains here."""
    tasks = [{**BASE, **LISTS, "name": "A"}, {**BASE, **LISTS, "name": "B"}]
    plain = tmp_path / "plain.toml"
    plain.write_text(suite_text(*tasks))
    grouped = tmp_path / "grouped.toml"
    tasks[0]["group"], tasks[1]["group"] = "task shift", "domain shift"
    grouped.write_text(suite_text(*tasks, name="My suite"))
    tables = {}
    for path in (plain, grouped):
        run_suite(
            load_suite(path), "random:demo", tmp_path / path.stem, str(tmp_path), log=lambda _: None
        )
        tables[path.stem] = (tmp_path / path.stem / "severe.md").read_text().splitlines()
    assert tables["plain"][0] == "# plain" and not tables["plain"][2].startswith("Groups")
    assert tables["grouped"][0] == "# My suite"
    assert tables["grouped"][2] == "Groups: task shift: A; domain shift: B."
