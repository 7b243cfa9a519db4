"""``desa embed``: embed the catalogue, predict properties, compute the UMAP layout."""

from __future__ import annotations

import argparse

from training.cli.common import add_run_arguments, checkpoint, store

NAME = "embed"
HELP = "embed the catalogue, predict properties, compute the UMAP layout"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run or checkpoint, and the size above which UMAP is fitted on a sample."""
    add_run_arguments(parser)
    parser.add_argument(
        "--max-fit",
        type=int,
        default=100_000,
        help="above this many stars, fit UMAP on a seeded sample and place the rest in its layout",
    )


def run(args: argparse.Namespace) -> None:
    """Embed every catalogue star with the run's checkpoint and write the results into the store."""
    from training.embed import embed_survey

    summary = embed_survey(store(args), checkpoint(args), max_fit=args.max_fit, progress=not args.quiet)
    print(
        f"embedded {summary.n_stars} stars ({summary.dim}-d), layout {summary.layout['mode']}, "
        f"{summary.seconds:.0f} s"
    )
