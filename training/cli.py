"""The ``desa`` command: simulate, ingest, train, embed, evaluate, export, serve.

Every subcommand has ``--help``. Long work shows tqdm bars. Errors print one line starting with
``desa: error:`` and exit non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from data import settings
from data.errors import DataError

log = logging.getLogger("desa")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _store(args: argparse.Namespace):
    from data.storage import SurveyStore

    return SurveyStore(Path(args.survey_dir) if args.survey_dir else settings.survey_dir(args.survey))


# --- subcommands ---------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace) -> None:
    import numpy as np

    from data.simulate import SurveyConfig, simulate_survey

    store = _store(args)
    out = Path(args.out) if args.out else store.raw_dir
    config = SurveyConfig(n_stars=args.n_stars, seed=args.seed, spectrum_layout=args.spectrum_layout)
    summary = simulate_survey(config, out, rng=np.random.default_rng(args.seed), progress=not args.quiet)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.population_counts.items()))
    print(
        f"simulated {summary.n_stars} stars into {out} ({summary.n_written} written, "
        f"{summary.n_skipped} already present) in {summary.seconds:.0f} s: {counts}"
    )


def cmd_ingest(args: argparse.Namespace) -> None:
    from data.ingest import ingest_survey

    store = _store(args)
    raw = Path(args.raw) if args.raw else store.raw_dir
    summary = ingest_survey(raw, store, seed=args.seed, progress=not args.quiet)
    print(
        f"ingested {summary.n_stars} stars into {store.store_dir}; "
        f"{summary.n_quarantined} quarantined (see {store.quarantine_path})"
    )
    for reason, count in sorted(getattr(summary, "reasons", {}).items()):
        print(f"  quarantined {count:6d}  {reason}")


def cmd_train(args: argparse.Namespace) -> None:
    from training.config import STAGES, load_config
    from training.run import train

    config = load_config(args.config, args.set)
    stages = tuple(args.stages.split(",")) if args.stages else STAGES
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"--stages: unknown {sorted(unknown)}; choose from {list(STAGES)}")
    summary = train(
        config,
        _store(args),
        resume=args.resume,
        restart=args.restart,
        stages=stages,
        progress=not args.quiet,
    )
    for result in summary.stages:
        print(
            f"  {result.name:20s} {result.epochs:4d} epochs  best val {result.best_val:9.4f}  "
            f"{result.seconds:6.1f} s{'  (early stop)' if result.stopped_early else ''}"
        )
    if summary.skipped:
        print(f"  skipped (already done): {', '.join(summary.skipped)}")
    print(f"model written to {summary.checkpoint} ({summary.seconds:.0f} s)")


def _checkpoint(args: argparse.Namespace) -> Path:
    if args.checkpoint:
        return Path(args.checkpoint)
    return _store(args).models_dir / args.run / "model.pt"


def cmd_embed(args: argparse.Namespace) -> None:
    from training.embed import embed_survey

    summary = embed_survey(_store(args), _checkpoint(args), max_fit=args.max_fit, progress=not args.quiet)
    print(
        f"embedded {summary.n_stars} stars ({summary.dim}-d), layout {summary.layout['mode']}, "
        f"{summary.seconds:.0f} s"
    )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from training.evaluate import evaluate_survey

    report = evaluate_survey(_store(args), seed=args.seed)
    print(report.markdown)
    print(f"report written to {report.folder}")


def cmd_export(args: argparse.Namespace) -> None:
    import datetime

    from data.storage import export_table

    store = _store(args)
    catalog = store.read_catalog()
    selected = catalog.query(args.query, engine="python") if args.query else catalog
    manifest = store.read_manifest()
    meta = {
        "selection": args.query or "all stars",
        "catalogue": str(store.catalog_path),
        "checkpoint_sha256": manifest.get("embed", {}).get("checkpoint_sha256", "none"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "creator": "desa export",
    }
    path = export_table(selected, Path(args.out), fmt=args.format, meta=meta)
    print(f"wrote {len(selected)} stars to {path}")


def serve_command(args: argparse.Namespace) -> list[str]:
    """The ``panel serve`` command line for the dashboard (nothing imports the dashboard)."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or spec.origin is None:
        raise RuntimeError("the dashboard package is not installed")
    app = Path(spec.origin).with_name("app.py")
    cmd = [
        sys.executable,
        "-m",
        "panel",
        "serve",
        str(app),
        "--address",
        args.address,
        "--port",
        str(args.port),
        "--num-procs",
        str(args.num_procs),
    ]
    if args.address not in LOOPBACK:
        if not (args.basic_auth or args.allow_anonymous):
            raise PermissionError(
                f"refusing to serve on {args.address} without authentication: "
                "give --basic-auth FILE (with --cookie-secret) or --allow-anonymous"
            )
        for origin in args.allow_websocket_origin or []:
            cmd += ["--allow-websocket-origin", origin]
    if args.basic_auth:
        cmd += ["--basic-auth", args.basic_auth, "--cookie-secret", args.cookie_secret or ""]
    if args.liveness:
        cmd += ["--liveness"]
    return cmd


def cmd_serve(args: argparse.Namespace) -> None:
    cmd = serve_command(args)
    if args.basic_auth and not args.cookie_secret:
        raise ValueError("--basic-auth needs --cookie-secret (a long random string kept out of git)")
    store = _store(args)
    if not store.has_catalog():
        raise DataError(store.catalog_path, "catalog", "not found; run `make demo` or `desa ingest` first")
    env = {**os.environ, "DESA_DATA_DIR": str(store.root.parent), "DESA_SURVEY": store.root.name}
    print(f"DESA explorer: http://{args.address}:{args.port}/app  (Ctrl-C to stop)", flush=True)
    subprocess.run(cmd, env=env, check=False)


# --- parser -------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--survey",
        default=None,
        help="survey folder name inside the data root "
        "(default: $DESA_SURVEY or 'demo'; root: $DESA_DATA_DIR or ./desa_data)",
    )
    p.add_argument("--survey-dir", default=None, help="explicit survey folder (overrides --survey)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desa",
        description="DESA stellar embedding explorer: simulate or ingest a survey, "
        "train the dual-embedding model, embed, evaluate, export and serve the dashboard.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, tuple[str, Callable[[argparse.Namespace], None]]] = {
        "simulate": (
            "write a simulated Kepler x LAMOST x Gaia survey in archive formats",
            cmd_simulate,
        ),
        "ingest": (
            "read archive files into the catalogue store, quarantining bad ones",
            cmd_ingest,
        ),
        "train": ("train DESA: pretraining, alignment and fine-tuning stages", cmd_train),
        "embed": ("embed the catalogue, predict properties, compute the UMAP layout", cmd_embed),
        "evaluate": ("evaluate the embedding on the test split; write a report", cmd_evaluate),
        "export": (
            "export catalogue rows as CSV, ECSV, VOTable or FITS with provenance",
            cmd_export,
        ),
        "serve": ("serve the dashboard with `panel serve`", cmd_serve),
    }
    subs = {}
    for name, (help_text, func) in commands.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p)
        p.set_defaults(func=func)
        subs[name] = p
    s = subs["simulate"]
    s.add_argument("--n-stars", type=int, default=2500, help="number of stars (default 2500)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--out", default=None, help="output folder (default: <survey>/raw)")
    s.add_argument(
        "--spectrum-layout",
        choices=("table", "image"),
        default="table",
        help="LAMOST file layout: current table (default) or older 5-row image",
    )
    s = subs["ingest"]
    s.add_argument(
        "--raw",
        default=None,
        help="folder with kepler/, lamost/ and a Gaia table (default: <survey>/raw)",
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the star-level split (default 0)")
    s = subs["train"]
    s.add_argument("--config", default="demo", help="shipped config name (tiny, demo, paper) or a TOML path")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value, e.g. --set align.epochs=5 (repeatable)",
    )
    s.add_argument("--stages", default=None, help="comma-separated subset of stages to run")
    s.add_argument("--resume", action="store_true", help="continue an interrupted or finished run")
    s.add_argument("--restart", action="store_true", help="discard an existing run of this name")
    for name in ("embed", "evaluate"):
        subs[name].add_argument("--run", default="demo", help="training run name (default demo)")
        subs[name].add_argument("--checkpoint", default=None, help="explicit checkpoint path")
    subs["embed"].add_argument(
        "--max-fit",
        type=int,
        default=100_000,
        help="above this many stars, fit UMAP on a sample and transform the rest",
    )
    subs["evaluate"].add_argument("--seed", type=int, default=0, help="few-shot sampling seed")
    s = subs["export"]
    s.add_argument(
        "--query",
        default=None,
        help="pandas query over catalogue columns, e.g. 'binary_prob > 0.9 and bp_rp_mag < 1.2'",
    )
    s.add_argument("--format", choices=("csv", "ecsv", "votable", "fits"), default="votable")
    s.add_argument("--out", required=True, help="output file")
    s = subs["serve"]
    s.add_argument("--address", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=5006, help="port (default 5006)")
    s.add_argument("--num-procs", type=int, default=1, help="worker processes (HoloViews is not thread-safe)")
    s.add_argument("--basic-auth", default=None, help="password or JSON file user -> password")
    s.add_argument("--cookie-secret", default=None, help="cookie secret for --basic-auth")
    s.add_argument("--allow-anonymous", action="store_true", help="serve a non-loopback address without auth")
    s.add_argument("--allow-websocket-origin", action="append", help="public host[:port] of the server")
    s.add_argument("--liveness", action="store_true", help="enable /liveness for monitors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
