"""The ``sigma-video`` command line: thin wrappers over the Python API.

User mistakes end with one ``sigma-video: error: ...`` line and exit status 2. Nothing
here imports torch before the arguments are parsed, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sigma_video.bench import cli as bench
from sigma_video.cli import data, evaluate, masks, plan, severe, train


def build_parser() -> argparse.ArgumentParser:
    from sigma_video import __version__

    parser = argparse.ArgumentParser(
        prog="sigma-video", description="SIGMA video pretraining and evaluation"
    )
    parser.add_argument("--version", action="version", version=f"sigma-video {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    train.pretrain_parser(sub)
    train.finetune_parser(sub)
    train.test_parser(sub)
    severe.severe_parser(sub)
    masks.masks_parser(sub)
    train.config_parser(sub)
    evaluate.eval_parsers(sub)
    evaluate.convert_parser(sub)
    evaluate.segment_parser(sub)
    sub.add_parser("models", help="list the registered model presets").set_defaults(func=run_models)
    sub.add_parser("presets", help="list the configuration presets").set_defaults(func=run_presets)
    plan.plan_parser(sub)
    bench.bench_parser(sub)
    data.data_parser(sub)
    return parser


def run_models(args: argparse.Namespace) -> None:
    from sigma_video.models.registry import list_models

    print("\n".join(list_models()))


def run_presets(args: argparse.Namespace) -> None:
    from sigma_video.config import list_presets
    from sigma_video.finetuning.config import FINETUNE_PRESETS

    print("\n".join(list_presets()))
    print("\n".join(f"finetune: {name}" for name in list_presets(FINETUNE_PRESETS)))


def one_line(err: BaseException) -> str:
    """The message of an error in one line; for an error re-raised from a DataLoader
    worker ("Caught X in DataLoader worker ..."), the original's last line."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if lines[0].startswith("Caught ") and "worker" in lines[0]:
        return lines[-1].split(": ", 1)[-1]
    return lines[0]


def _stdout_closed() -> bool:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    return False


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line; ``key=value`` overrides may also come after flags
    (``... optim.epochs=8 --resume auto run.probe_after=false``), as a requeue script
    appends them; so may ``probe``'s settings (``... --workers 0 epochs=1``)."""
    args, extra = parser.parse_known_args(argv)
    overrides = [x for x in extra if "=" in x and not x.startswith("-")]
    unknown = [x for x in extra if x not in overrides]
    dest = next((d for d in ("overrides", "settings") if hasattr(args, d)), None)
    if unknown or (overrides and dest is None):
        parser.error(f"unrecognized arguments: {' '.join(unknown or overrides)}")
    if overrides:
        setattr(args, dest, [*getattr(args, dest), *overrides])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)  # --help and usage errors end here, before torch loads
    from sigma_video.data.decode import DecodeError
    from sigma_video.data.skips import DataError
    from sigma_video.engine.loop import TrainingError

    try:
        args.func(args)
        leave_process_group(wait=True)
    except BrokenPipeError as err:
        if not _stdout_closed():  # another pipe or socket: a real error
            parser.exit(2, f"sigma-video: error: {one_line(err)}\n")
        # `sigma-video config | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, DataError, DecodeError, TrainingError, OSError) as err:
        # user mistakes (incl. paths that cannot be read or written), bad data, divergence
        parser.exit(2, f"sigma-video: error: {one_line(err)}\n")
    except KeyboardInterrupt as err:  # Ctrl-C outside training, or a second one inside it
        parser.exit(130, f"sigma-video: {str(err) or 'interrupted'}\n")
    finally:
        leave_process_group(wait=False)  # no-op when already left (or never joined)
    return 0


def leave_process_group(wait: bool) -> None:
    """Leave ``torchrun``'s process group before the interpreter exits: a gloo group left to
    the exit's teardown aborts the process now and then ("terminate called without an
    active exception", SIGABRT after a finished run). ``wait``: every rank got here (a
    barrier first); not after an error, where the other ranks may never arrive."""
    if "torch.distributed" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
