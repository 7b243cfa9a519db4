"""``desa embed``: embed the catalogue, predict properties, compute the UMAP layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.cli.common import add_engine_arguments, add_run_arguments, checkpoint, store

NAME = "embed"
HELP = "embed the catalogue, predict properties, compute the UMAP layout"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run or checkpoint, the size above which UMAP is fitted on a sample, the Dask engine."""
    add_run_arguments(parser)
    add_engine_arguments(parser)
    parser.add_argument(
        "--max-fit",
        type=int,
        default=100_000,
        help="above this many stars, fit UMAP on a seeded sample and place the rest in its layout",
    )
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="use the weights shipped in the package for --run (checked against this code and survey)",
    )
    parser.add_argument(
        "--format",
        choices=("store", "hats"),
        default="store",
        help="store: the survey store only (what the dashboard reads); hats: also write the catalogue "
        "(Gaia columns, predictions with intervals, layout, embedding) as a HATS catalogue that "
        "lsdb.read_hats opens (needs pip install 'desa-explorer[hats]'; see docs/hats.md)",
    )
    parser.add_argument(
        "--hats-out",
        default=None,
        help="folder of the HATS catalogue (default: <survey>/hats/<survey name>; replaced if there)",
    )


def run(args: argparse.Namespace) -> None:
    """Embed every catalogue star with the run's checkpoint (or the shipped weights); write the store."""
    from training.embed import embed_survey

    survey = store(args)
    if args.format == "hats":  # before the embedding: fail in a second, not after an hour
        import importlib.util

        if importlib.util.find_spec("lsdb") is None:
            raise ImportError("--format hats needs lsdb: pip install 'desa-explorer[hats]'")
    if args.shipped:
        from training.cli.ship_weights import describe
        from training.shipped import check_weights

        weights = check_weights(args.run, grids=survey.read_manifest().get("grids"))
        model = weights.path
        print(f"using the shipped {args.run} weights: {describe(weights.sidecar)}")
    else:
        model = checkpoint(args)
    summary = embed_survey(
        survey,
        model,
        max_fit=args.max_fit,
        progress=not args.quiet,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    print(
        f"embedded {summary.n_stars} stars ({summary.dim}-d), layout {summary.layout['mode']}, "
        f"{summary.seconds:.0f} s"
    )
    if args.format == "hats":
        from data.hats import write_hats

        out = Path(args.hats_out) if args.hats_out else survey.root / "hats" / survey.root.name
        write_hats(survey, out, progress=not args.quiet)
        print(f"wrote the HATS catalogue of {summary.n_stars} stars to {out} (lsdb.read_hats opens it)")
