"""The ``desa`` command: simulate, ingest, train, embed, ship-weights, evaluate, ablate, export, serve.

One module per command: ``NAME``, ``HELP``, ``add_arguments(parser)`` next to ``run(args)``; the
options every command shares are in :mod:`training.cli.common`, and ``serve``'s serving and
security options in ``dashboard/serve_options.py``, next to the app they configure. A new command
is a new module added to :data:`COMMANDS`.

Every subcommand has ``--help``. Long work shows tqdm bars. Errors print one line starting with
``desa: error:`` and exit non-zero; ``--debug`` shows the traceback instead. The CLI may import every
package; nothing imports the CLI (``tests/test_architecture.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from tqdm.contrib.logging import logging_redirect_tqdm

# Re-exported: the serve options and the torchrun command line, as scripts and tests use them.
from dashboard.serve_options import (
    COOKIE_SECRET_FILE,
    LIVENESS_PLUGIN,
    SAMP_WEB_PLUGIN,
    cookie_secret,
    serve_command,
    serve_environment,
)
from training.cli import ablate, embed, evaluate, export, ingest, serve, ship_weights, simulate, train
from training.cli.common import add_common
from training.cli.train import torchrun_command

__all__ = [
    "COMMANDS",
    "COOKIE_SECRET_FILE",
    "LIVENESS_PLUGIN",
    "SAMP_WEB_PLUGIN",
    "build_parser",
    "cookie_secret",
    "main",
    "serve_command",
    "serve_environment",
    "torchrun_command",
]

#: The commands, in the order ``desa --help`` lists them.
COMMANDS = (simulate, ingest, train, embed, ship_weights, evaluate, ablate, export, serve)


def build_parser() -> argparse.ArgumentParser:
    """The ``desa`` parser: one subparser per module of :data:`COMMANDS`, shared options first."""
    parser = argparse.ArgumentParser(
        prog="desa",
        description="DESA stellar embedding explorer: simulate or ingest a survey, "
        "train the dual-embedding model, embed, evaluate, export and serve the dashboard.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        add_common(p)
        command.add_arguments(p)
        p.set_defaults(func=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``desa`` command; the exit status (1 on an error, 130 on Ctrl-C).

    An error class may name its own status (``EXIT_STATUS``): 3 for shipped weights that do not fit.
    """
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with logging_redirect_tqdm():
            args.func(args)
    except KeyboardInterrupt:
        print("desa: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"desa: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "EXIT_STATUS", 1))
    return 0
