"""``desa ship-weights``: rebuild or check the weights shipped in the package.

Retrains the demo model and rewrites the shipped weights, or ``--check`` / ``--verify`` the shipped
ones against this code and survey (``training/shipped.py``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from training.cli.common import store

NAME = "ship-weights"
HELP = "retrain the demo model and rewrite the weights shipped in the package (or --check them)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The config, the survey it trains on, and the check-only modes."""
    parser.add_argument(
        "--config", default="demo", help="shipped config name whose weights to rebuild (default demo)"
    )
    parser.add_argument("--n-stars", type=int, default=2500, help="survey size to train on (default 2500)")
    parser.add_argument(
        "--seed", type=int, default=0, help="simulation and split seed of that survey (default 0)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="ship the finished run in the survey, do not retrain"
    )
    parser.add_argument(
        "--out", default=None, help="output folder (default: the package's training/weights/<config>)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only check the shipped weights; exit 3 if refused"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also rebuild the check survey and reproduce the recorded figures",
    )


def describe(sidecar: dict) -> str:
    """One line on where shipped weights come from: commit, survey and date."""
    survey = sidecar["survey"]
    return (
        f"commit {sidecar['git_commit'][:10]}, trained on {survey['n_stars']:,} simulated stars "
        f"(seed {survey['seed']}), shipped {sidecar['shipped_utc']}"
    )


def run(args: argparse.Namespace) -> None:
    """Check the shipped weights (``--check``/``--verify``) or rebuild them with recorded figures."""
    from training import shipped
    from training.config import load_config

    if args.check or args.verify:
        survey = store(args) if (args.survey or args.survey_dir) else None
        grids = survey.read_manifest().get("grids") if survey is not None and survey.has_catalog() else None
        weights = shipped.check_weights(args.config, grids=grids)
        print(f"shipped {args.config} weights fit this code: {weights.path} ({describe(weights.sidecar)})")
        if args.verify:
            recorded = weights.sidecar["figures"]["check"]
            measured = shipped.check_survey_figures(
                weights.path, recorded["n_stars"], recorded["seed"], workers=os.cpu_count() or 1
            )
            if problems := shipped.compare_figures(recorded, measured, weights.sidecar["tolerance"]):
                raise shipped.ShippedWeightsError(weights.path, "figures moved: " + "; ".join(problems))
            print(f"reproduced the figures recorded on the {recorded['n_stars']}-star check survey")
        return
    sidecar = shipped.ship_weights(
        store(args),
        load_config(args.config),
        n_stars=args.n_stars,
        seed=args.seed,
        out_dir=Path(args.out) if args.out else None,
        retrain=not args.reuse,
        progress=not args.quiet,
    )
    figures = json.loads(sidecar.read_text(encoding="utf-8"))["figures"]
    for survey_name, values in figures.items():
        print(f"{survey_name}: heads R² {values['heads_r2']}; binary AUC {values.get('binary_auc')}")
    print(f"wrote {sidecar.with_name(shipped.MODEL_FILE)} and {sidecar}")
