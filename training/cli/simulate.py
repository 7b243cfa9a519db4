"""``desa simulate``: write a simulated Kepler x LAMOST x Gaia survey in archive formats."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from training.cli.common import add_engine_arguments, store

NAME = "simulate"
HELP = "write a simulated Kepler x LAMOST x Gaia survey in archive formats"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Survey size, seed, output folder, LAMOST layout, workers and the optional report."""
    parser.add_argument("--n-stars", type=int, default=2500, help="number of stars (default 2500)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", default=None, help="output folder (default: <survey>/raw)")
    parser.add_argument(
        "--spectrum-layout",
        choices=("table", "image"),
        default="table",
        help="LAMOST file layout: current table (default) or older 5-row image",
    )
    add_engine_arguments(parser)
    parser.add_argument(
        "--report",
        action="store_true",
        help="also write PNG figures (CMD, HR, Prot-Teff, examples) to <out>/report",
    )


def run(args: argparse.Namespace) -> None:
    """Simulate the survey into ``--out`` (default ``<survey>/raw``) and print its population counts."""
    import numpy as np

    from data.simulate import SurveyConfig, simulate_survey

    out = Path(args.out) if args.out else store(args).raw_dir
    config = SurveyConfig(n_stars=args.n_stars, seed=args.seed, spectrum_layout=args.spectrum_layout)
    if args.workers:
        config = dataclasses.replace(config, workers=args.workers)
    summary = simulate_survey(
        config, out, rng=np.random.default_rng(args.seed), progress=not args.quiet, scheduler=args.scheduler
    )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.population_counts.items()))
    print(
        f"simulated {summary.n_stars} stars into {out} ({summary.n_written} written, "
        f"{summary.n_skipped} already present) in {summary.seconds:.0f} s: {counts}"
    )
    if args.report:
        from data.simulate.report import write_report

        for path in write_report(out, out / "report"):
            print(f"report figure: {path}")
