"""What every ``desa`` command shares: the survey options, the store they name, a run's checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from data import settings
from data.storage import SurveyStore


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--survey``, ``--survey-dir``, ``--quiet`` and ``--debug``, which every command takes."""
    parser.add_argument(
        "--survey",
        default=None,
        help="survey folder name inside the data root "
        "(default: $DESA_SURVEY or 'demo'; root: $DESA_DATA_DIR or ./desa_data)",
    )
    parser.add_argument("--survey-dir", default=None, help="explicit survey folder (overrides --survey)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--scheduler``: where the data-parallel stages run their Dask tasks."""
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of the local Dask cluster (default: all CPU cores; 1: in this process)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler (tcp://host:8786) to run on instead of a local cluster; "
        "its workers must see the survey folder (default: $DESA_DASK_SCHEDULER; docs/DEPLOY.md)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--run`` and ``--checkpoint``: the trained model a command reads."""
    parser.add_argument("--run", default="demo", help="training run name (default demo)")
    parser.add_argument("--checkpoint", default=None, help="explicit checkpoint path")


def store(args: argparse.Namespace) -> SurveyStore:
    """The survey store ``--survey-dir`` or ``--survey`` names."""
    return SurveyStore(Path(args.survey_dir) if args.survey_dir else settings.survey_dir(args.survey))


def checkpoint(args: argparse.Namespace) -> Path:
    """``--checkpoint``, else the model of run ``--run`` in the survey."""
    if args.checkpoint:
        return Path(args.checkpoint)
    return store(args).models_dir / args.run / "model.pt"
