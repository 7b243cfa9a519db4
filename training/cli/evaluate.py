"""``desa evaluate``: evaluate the embedding on the test split and write a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.cli.common import add_run_arguments, checkpoint, store

NAME = "evaluate"
HELP = "evaluate the embedding on the test split; write a report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run or checkpoint, seeds, extra frozen variants and whether to train the baselines."""
    add_run_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the binary ORACLE")
    parser.add_argument(
        "--seeds", type=int, default=3, help="probe seeds: each figure is a mean ± std over them (default 3)"
    )
    parser.add_argument(
        "--train-seeds",
        type=int,
        default=3,
        help="training seeds of DESA's alignment and of CLIP (the run's seed, then the next ones); "
        "their figures pool every training and probe seed (default 3; 1 = the run's seed only)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=CHECKPOINT",
        help="also probe this checkpoint's frozen embedding (its own encoders and fusion), repeatable",
    )
    parser.add_argument(
        "--no-baselines", action="store_true", help="skip the four baselines (DESA's figures only)"
    )


def run(args: argparse.Namespace) -> None:
    """Evaluate on one store generation; print the report and where it was written."""
    from training.evaluate import checkpoint_embedding, evaluate_survey

    if args.train_seeds < 1 or args.seeds < 1:
        raise ValueError(f"--seeds {args.seeds} --train-seeds {args.train_seeds}: both must be at least 1")
    survey = store(args).snapshot()  # one store generation, whatever desa ingest/embed do meanwhile
    variants = {}
    for text in args.variant:
        name, sep, path = text.partition("=")
        if not (sep and name and path):
            raise ValueError(
                f"--variant {text!r}: expected NAME=CHECKPOINT, e.g. preserve=models/p/aligned.pt"
            )
        variants[name] = checkpoint_embedding(survey, Path(path), progress=not args.quiet)
    report = evaluate_survey(
        survey,
        checkpoint=checkpoint(args),
        seed=args.seed,
        seeds=args.seeds,
        train_seeds=args.train_seeds,
        baselines=not args.no_baselines,
        variants=variants,
        progress=not args.quiet,
    )
    print(report.markdown)
    print(f"report written to {report.folder}")
