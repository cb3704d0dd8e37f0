"""``severe.md`` / ``severe.json``: a suite's results in the layout of the paper's Tab. 5.

One column per task, grouped as the suite groups them; classification columns show top-1
(%), multi-label ones mAP (%), counting ones the normalised count error (lower is better,
marked ↓). The mean, as in SIGMA's Tab. 5, averages the columns with a count error ``e``
entered as ``100 (1 − e)``; it is shown only when every task is done.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from sigma_video.engine.run_dir import write_json
from sigma_video.finetuning.tasks import make_task


def headline(row: dict[str, Any]) -> float | None:
    """The task's table value (None unless done)."""
    if row.get("status") != "done":
        return None
    return float(row["scores"][make_task(row["task"]).primary])


def mean_score(rows: list[dict[str, Any]]) -> float | None:
    """Tab. 5's mean: counting errors as ``100 (1 − e)``; None unless every task is done."""
    values = []
    for row in rows:
        value = headline(row)
        if value is None:
            return None
        values.append(100 * (1 - value) if row["task"] == "counting" else value)
    return statistics.fmean(values) if values else None


def cell(row: dict[str, Any]) -> str:
    value = headline(row)
    if value is None:
        return {"skipped": "n/a", "stopped": "stopped"}.get(row.get("status", ""), "…")
    return f"{value:.3f}" if row["task"] == "counting" else f"{value:.1f}"


def markdown(*results: dict[str, Any]) -> str:
    """The table (one row per result: a checkpoint's run of the same suite), the metric of
    each column and the skipped tasks."""
    first = results[0]
    rows = first["tasks"]
    names = [row["name"] + (" ↓" if row["task"] == "counting" else "") for row in rows]
    for other in results[1:]:
        if [row["name"] for row in other["tasks"]] != [row["name"] for row in rows]:
            raise ValueError(
                f"{other['checkpoint']} was run on another suite than {first['suite']}"
            )
    lines = [f"# {first['suite']}", ""]
    groups = [row["group"] for row in rows]
    if any(groups):
        spans, last = [], None
        for name, group in zip(names, groups, strict=True):
            if group != last:
                spans.append(f"{group or '–'}: {name}")
                last = group
            else:
                spans[-1] += f", {name}"
        lines += ["Groups: " + "; ".join(spans) + ".", ""]
    lines += ["| checkpoint | " + " | ".join(names) + " | Mean |", "|---" * (len(names) + 2) + "|"]
    for result in results:
        mean = mean_score(result["tasks"])
        cells = " | ".join(cell(row) for row in result["tasks"])
        lines.append(
            f"| {result['checkpoint']} | {cells} | {'–' if mean is None else f'{mean:.1f}'} |"
        )
    lines += [
        "",
        "Metrics: classification top-1 (%), multi-label mAP (%), counting: mean |count error|"
        " / true count (↓; the mean counts it as 100 (1 − error)).",
    ]
    for result in results:
        for row in result["tasks"]:
            if row.get("status") == "skipped":
                lines.append(f"- {result['checkpoint']}, {row['name']}: skipped ({row['reason']})")
    return "\n".join(lines) + "\n"


def write_report(output: str | Path, result: dict[str, Any]) -> None:
    """``severe.json`` (every task's scores and status) and ``severe.md``, atomically."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    result = {**result, "mean": mean_score(result["tasks"])}
    write_json(output / "severe.json", result)
    temporary = output / ".severe.md.tmp"
    temporary.write_text(markdown(result), encoding="utf-8")
    temporary.replace(output / "severe.md")


def read_report(output: str | Path) -> dict[str, Any]:
    """A results folder's ``severe.json``."""
    path = Path(output) / "severe.json"
    if not path.exists():
        raise ValueError(f"{output} holds no severe.json (run sigma-video severe there first)")
    return json.loads(path.read_text())
