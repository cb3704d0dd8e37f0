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

from sigma_video.engine.run import write_json
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


def markdown(result: dict[str, Any]) -> str:
    """The table, the metric of each column and the skipped tasks."""
    rows = result["tasks"]
    names = [row["name"] + (" ↓" if row["task"] == "counting" else "") for row in rows]
    groups = [row["group"] for row in rows]
    mean = mean_score(rows)
    lines = [f"# {result['suite']}", ""]
    if any(groups):
        spans, last = [], None
        for name, group in zip(names, groups, strict=True):
            if group != last:
                spans.append(f"{group or '–'}: {name}")
                last = group
            else:
                spans[-1] += f", {name}"
        lines += ["Groups: " + "; ".join(spans) + ".", ""]
    lines += [
        "| checkpoint | " + " | ".join(names) + " | Mean |",
        "|---" * (len(names) + 2) + "|",
        f"| {result['checkpoint']} | "
        + " | ".join(cell(row) for row in rows)
        + f" | {'–' if mean is None else f'{mean:.1f}'} |",
        "",
        "Metrics: classification top-1 (%), multi-label mAP (%), counting: mean |count error|"
        " / true count (↓; the mean counts it as 100 (1 − error)).",
    ]
    for row in rows:
        if row.get("status") == "skipped":
            lines.append(f"- {row['name']}: skipped ({row['reason']})")
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
    return json.loads((Path(output) / "severe.json").read_text())
