"""``desa serve``: serve the dashboard with ``panel serve``; its options are the dashboard's.

The serving and security options, the ``panel serve`` command line and its secrets live in
``dashboard/serve_options.py``, next to the app they configure; this command checks the survey and
starts the server with them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys

from dashboard.serve_options import add_arguments, serve_command, serve_environment, warn_literal_password
from data.errors import DataError
from training.cli.common import store

NAME = "serve"
HELP = "serve the dashboard with `panel serve`"

__all__ = ["HELP", "NAME", "add_arguments", "run"]


def _prepare(survey_dir: os.PathLike) -> None:
    """The column files of the survey (in the spawned process); exit status 1 where that fails."""
    from dashboard.store import prepare_catalog

    try:
        prepare_catalog(survey_dir)
    except Exception as exc:  # a broken catalogue: the page build reports it where it is served
        raise SystemExit(1) from exc


def become_server(cmd: list[str], env: dict[str, str]) -> None:
    """Replace this process by ``panel serve`` (``exec``): the server keeps this process's pid.

    A child process instead outlived its parent: ``kill PID`` (by hand, or a process supervisor
    that signals the pid it started) ended ``desa serve`` and left the server running on its
    port, so a restart failed with "port already in use" (tests/hardening/test_serving.py).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)


def run(args: argparse.Namespace) -> None:
    """Become ``panel serve`` on the survey's catalogue, secrets in its environment, until Ctrl-C."""
    cmd = serve_command(args)
    warn_literal_password(args)
    survey = store(args)
    if not survey.has_catalog():
        raise DataError(survey.catalog_path, "catalog", "not found; run `make demo` or `desa ingest` first")
    env = {
        **os.environ,
        **serve_environment(args, survey.root.parent),
        "DESA_DATA_DIR": str(survey.root.parent),
        "DESA_SURVEY": survey.root.name,
        "DESA_LIVENESS_ENDPOINT": args.liveness_endpoint.strip("/"),
    }
    # The dashboard's memory-mapped column files, once per store generation, before the workers
    # start (dashboard/columns.py); in a process of its own, so this one stays small while it waits.
    print("preparing the dashboard's column files (once per store generation)", flush=True)
    builder = multiprocessing.get_context("spawn").Process(target=_prepare, args=(survey.root,))
    builder.start()
    builder.join()
    if builder.exitcode != 0:
        print("could not prepare them now; the first session will try again and log why", flush=True)
    print(f"DESA explorer: http://{args.address}:{args.port}/app  (Ctrl-C to stop)", flush=True)
    become_server(cmd, env)
