"""``desa train``: train DESA's stages on a survey, on one process or data-parallel with torchrun."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from training.cli.common import store

NAME = "train"
HELP = "train DESA: pretraining, alignment and fine-tuning stages"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Config, overrides, stages, resume/restart, data-parallel processes and device."""
    parser.add_argument(
        "--config", default="demo", help="shipped config name (tiny, demo, paper) or a TOML path"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value, e.g. --set align.epochs=5 (repeatable)",
    )
    parser.add_argument("--stages", default=None, help="comma-separated subset of stages to run")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted or finished run")
    parser.add_argument("--restart", action="store_true", help="discard an existing run of this name")
    parser.add_argument(
        "--nproc-per-node",
        type=int,
        default=1,
        help="data-parallel processes on this machine, launched with torchrun (gloo on CPU, nccl on GPU)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when present)")


def torchrun_command(argv: list[str], nproc: int) -> list[str]:
    """The torchrun command line that re-runs this ``desa train`` as ``nproc`` processes."""
    rest, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--nproc-per-node":
            skip = True
            continue
        if item.startswith("--nproc-per-node="):
            continue
        rest.append(item)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "training.cli",
        *rest,
    ]


def run(args: argparse.Namespace) -> None:
    """Train (or hand over to torchrun); rank 0 prints each stage's result and the checkpoint."""
    from training.config import STAGES, load_config
    from training.run import train

    if args.nproc_per_node > 1 and "LOCAL_RANK" not in os.environ:
        # Data-parallel: hand over to torchrun, which starts one `desa train` per process.
        command = torchrun_command(sys.argv[1:] if args.argv is None else args.argv, args.nproc_per_node)
        print("running:", " ".join(command), flush=True)
        raise SystemExit(subprocess.call(command))
    config = load_config(args.config, args.set)
    stages = tuple(args.stages.split(",")) if args.stages else STAGES
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"--stages: unknown {sorted(unknown)}; choose from {list(STAGES)}")
    summary = train(
        config,
        store(args),
        resume=args.resume,
        restart=args.restart,
        stages=stages,
        progress=not args.quiet,
        device=args.device,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return
    for result in summary.stages:
        print(
            f"  {result.name:20s} {result.epochs:4d} epochs  best val {result.best_val:9.4f}  "
            f"{result.seconds:6.1f} s{'  (early stop)' if result.stopped_early else ''}"
        )
    if summary.skipped:
        print(f"  skipped (already done): {', '.join(summary.skipped)}")
    print(f"model written to {summary.checkpoint} ({summary.seconds:.0f} s)")
