"""``desa ingest``: read archive files into the catalogue store, quarantining bad ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.cli.common import add_engine_arguments, store

NAME = "ingest"
HELP = "read archive files into the catalogue store, quarantining bad ones"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The raw folder, the seed of the star-level split and the Dask engine's options."""
    parser.add_argument(
        "--raw",
        default=None,
        help="folder of archive files in any layout, found by content: Kepler/K2/TESS light curves, "
        "LAMOST LRS spectra and, optionally, a Gaia table with cross-match columns (default: <survey>/raw)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the star-level split (default 0)")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> None:
    """Ingest ``--raw`` into the store; print the count of stars and of each quarantine reason."""
    from data.ingest import ingest_survey

    survey = store(args)
    raw = Path(args.raw) if args.raw else survey.raw_dir
    summary = ingest_survey(
        raw, survey, seed=args.seed, progress=not args.quiet, workers=args.workers, scheduler=args.scheduler
    )
    print(
        f"ingested {summary.n_stars} stars into {survey.store_dir}; "
        f"{summary.n_quarantined} quarantined (see {survey.quarantine_path})"
    )
    one = getattr(summary, "n_lightcurve_only", 0) + getattr(summary, "n_spectrum_only", 0)
    if one:
        print(
            f"  {summary.n_lightcurve_only} stars with a light curve only, {summary.n_spectrum_only} with "
            "a spectrum only: embedded from that modality alone, not trained on"
        )
    if getattr(summary, "n_chunks_resumed", 0):
        print(f"  resumed an interrupted ingest after {summary.n_chunks_resumed} finished chunks")
    for reason, count in sorted(getattr(summary, "reasons", {}).items()):
        print(f"  quarantined {count:6d}  {reason}")
