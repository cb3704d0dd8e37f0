"""``sigma-video plan``: the memory one GPU needs for a pretraining config, per setup."""

from __future__ import annotations

import argparse
import json
from typing import Any


def plan_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="memory per GPU of a pretraining config: DDP vs FSDP2, with/without checkpointing",
        description="Parameters, gradients, AdamW state and saved activations per GPU of a "
        "pretraining config (built on the meta device: nothing is allocated), for DDP and "
        "FSDP2 with and without activation checkpointing, and the largest micro-batch "
        "that fits.",
    )
    p.add_argument("--config", default="vit_b_k400_mlp", help="pretraining preset or file")
    p.add_argument("--gpus", type=int, default=8, help="GPUs (FSDP2 shards over them)")
    p.add_argument("--gpu-memory", type=float, default=80.0, help="GiB per GPU")
    p.add_argument("--fp32", action="store_true", help="plan float32 instead of bf16 autocast")
    p.add_argument("--json", action="store_true", help="one JSON object per setup")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> None:
    from sigma_video.planning.memory import GIB, model_summary, plan_memory
    from sigma_video.pretraining.config import load_pretrain_config

    config = load_pretrain_config(args.config, args.overrides).resolved()
    plans = plan_memory(config.model, config.mask, args.gpus, args.gpu_memory, not args.fp32)
    summary = model_summary(config.model, config.mask)
    batch = config.optim.batch_size
    if args.json:
        for p in plans:
            row = {"parallel": p.parallel, "checkpointing": p.checkpointing, **summary}
            row |= {"fixed": p.fixed, "per_clip": p.per_clip, "max_batch": p.max_batch}
            print(json.dumps(row | {"batch_size": batch, "fits": p.max_batch >= batch}))
        return
    trainable = summary["trainable"]
    decoded = ""
    if summary["predicted"] != summary["masked"]:
        decoded = f", {summary['predicted']} of them decoded"
    print(
        f"{config.model.arch}, φ {config.model.target.kind}, {summary['tokens']} tubes a clip "
        f"({summary['visible']} visible, {summary['masked']} masked{decoded}); "
        f"{trainable / 1e6:.1f} M trainable parameters (encoder {summary['encoder'] / 1e6:.1f} M), "
        f"{summary['frozen'] / 1e6:.1f} M frozen"
    )
    print(f"{args.gpus} × {args.gpu_memory:g} GiB, {'float32' if args.fp32 else 'bf16 autocast'}")
    head = f"{'setup':<18}{'states GiB':>11}{'GiB/clip':>10}{'max batch':>11}  batch {batch}"
    print(head)
    for p in plans:
        setup = f"{p.parallel}{' + checkpoint' if p.checkpointing else ''}"
        fits = "fits" if p.max_batch >= batch else "does not fit"
        sizes = f"{p.fixed_bytes / GIB:>11.2f}{p.clip_bytes / GIB:>10.3f}{p.max_batch:>11}"
        print(f"{setup:<18}{sizes}  {fits}")
