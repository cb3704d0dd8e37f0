"""``sigma-video severe``: the SEVERE generalisation suite from one checkpoint."""

from __future__ import annotations

import argparse
import json


def severe_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "severe",
        help="fine-tune one checkpoint on every task of a SEVERE suite; writes severe.md/json",
        description="Runs every task of a suite (a preset: 'paper' = SIGMA Tab. 5's eight "
        "columns, 'embedded' = the four axes on generated videos; or a .toml file): reads "
        "and checks all lists first, skips tasks whose files are missing (one line each), "
        "fine-tunes the rest into OUTPUT/<task> (a finished task is not rerun, a stopped "
        "one continues) and writes OUTPUT/severe.md and severe.json in Tab. 5's layout. "
        "key=value overrides apply to every task after its own.",
    )
    p.add_argument("--checkpoint", help="pretrained run, checkpoint, file or random:PRESET")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="OUTPUT",
        help="print one table of finished results folders (e.g. SIGMA and random init); "
        "runs nothing",
    )
    p.add_argument("--suite", default="embedded", help="suite preset or .toml (default: embedded)")
    p.add_argument("--data-root", default=None, help="folder the suite's list paths start from")
    p.add_argument("--output", default="runs/severe", help="results folder (default: runs/severe)")
    p.add_argument("--overwrite", action="store_true", help="rerun tasks already done here")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="fine-tuning overrides")
    p.set_defaults(func=run_severe)


def run_severe(args: argparse.Namespace) -> None:
    from sigma_video.severe import load_suite, run_suite
    from sigma_video.severe.report import markdown, read_report

    if args.compare:
        print(markdown(*(read_report(folder) for folder in args.compare)), end="")
        return
    if args.checkpoint is None:
        raise ValueError("--checkpoint is required (or --compare OUTPUT ...)")
    suite = load_suite(args.suite)
    result = run_suite(
        suite, args.checkpoint, args.output, args.data_root, args.overrides, args.overwrite
    )
    print(markdown(result), end="")
    print(json.dumps({"output": args.output, "tasks": len(result["tasks"])}))
