"""``desa export``: export catalogue rows as CSV, ECSV, VOTable or FITS with provenance."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.cli.common import store

NAME = "export"
HELP = "export catalogue rows as CSV, ECSV, VOTable or FITS with provenance"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The selection expression, the format and the output file."""
    parser.add_argument(
        "--query",
        default=None,
        help="selection expression (the dashboard's language, see data/query.py), "
        'e.g. "binary_prob > 0.9 and box(bp_rp_mag, abs_g_mag, 0.8, 1.2, 3, 5)"',
    )
    parser.add_argument("--format", choices=("csv", "ecsv", "votable", "fits"), default="votable")
    parser.add_argument("--out", required=True, help="output file (an existing one needs --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace) -> None:
    """Write the selected rows of one store generation, with its provenance, to ``--out``."""
    from data.provenance import provenance
    from data.query import expression_mask
    from data.storage import export_table

    out = Path(args.out)
    if out.exists() and not args.overwrite:  # checked again when the file gets its name
        raise FileExistsError(f"{out}: exists; pass --overwrite to replace it")
    survey = store(args).snapshot()  # catalogue and provenance from one store generation
    catalog = survey.read_catalog()
    # The dashboard's selection language: parsed, never executed (similar() needs the dashboard).
    selected = catalog[expression_mask(args.query, catalog)] if args.query else catalog
    meta = provenance(survey.root, args.query or "", len(selected), generation=survey.generation or "")
    meta["creator"] = "desa export"
    try:
        path = export_table(selected, out, fmt=args.format, meta=meta, overwrite=args.overwrite)
    except FileExistsError as exc:
        raise FileExistsError(f"{out}: exists; pass --overwrite to replace it") from exc
    print(f"wrote {len(selected)} stars to {path}")
