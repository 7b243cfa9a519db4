"""The ``desa`` command: simulate, ingest, train, embed, ship-weights, evaluate, ablate, export, serve.

Every subcommand has ``--help``. Long work shows tqdm bars. Errors print one line starting with
``desa: error:`` and exit non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
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
    if args.workers:
        config = dataclasses.replace(config, workers=args.workers)
    summary = simulate_survey(config, out, rng=np.random.default_rng(args.seed), progress=not args.quiet)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.population_counts.items()))
    print(
        f"simulated {summary.n_stars} stars into {out} ({summary.n_written} written, "
        f"{summary.n_skipped} already present) in {summary.seconds:.0f} s: {counts}"
    )
    if args.report:
        from data.simulate.report import write_report

        for path in write_report(out, out / "report"):
            print(f"report figure: {path}")


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


def torchrun_command(argv: list[str], nproc: int) -> list[str]:
    """The torchrun command line that re-runs this ``desa train`` as ``nproc`` processes."""
    rest, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--nproc-per-node":
            skip = True
            continue
        if item.startswith("--nproc-per-node="):
            continue
        rest.append(item)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "training.cli",
        *rest,
    ]


def cmd_train(args: argparse.Namespace) -> None:
    from training.config import STAGES, load_config
    from training.run import train

    if args.nproc_per_node > 1 and "LOCAL_RANK" not in os.environ:
        # Data-parallel: hand over to torchrun, which starts one `desa train` per process.
        command = torchrun_command(sys.argv[1:] if args.argv is None else args.argv, args.nproc_per_node)
        print("running:", " ".join(command), flush=True)
        raise SystemExit(subprocess.call(command))
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
        device=args.device,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return
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

    store = _store(args)
    checkpoint = _checkpoint(args)
    if args.shipped:
        from training.shipped import check_weights

        shipped = check_weights(args.run, grids=store.read_manifest().get("grids"))
        checkpoint = shipped.path
        print(f"using the shipped {args.run} weights: {_describe(shipped.sidecar)}")
    summary = embed_survey(store, checkpoint, max_fit=args.max_fit, progress=not args.quiet)
    print(
        f"embedded {summary.n_stars} stars ({summary.dim}-d), layout {summary.layout['mode']}, "
        f"{summary.seconds:.0f} s"
    )


def _describe(sidecar: dict) -> str:
    survey = sidecar["survey"]
    return (
        f"commit {sidecar['git_commit'][:10]}, trained on {survey['n_stars']:,} simulated stars "
        f"(seed {survey['seed']}), shipped {sidecar['shipped_utc']}"
    )


def cmd_ship_weights(args: argparse.Namespace) -> None:
    from training import shipped
    from training.config import load_config

    if args.check or args.verify:
        store = _store(args) if (args.survey or args.survey_dir) else None
        grids = store.read_manifest().get("grids") if store is not None and store.has_catalog() else None
        weights = shipped.check_weights(args.config, grids=grids)
        print(f"shipped {args.config} weights fit this code: {weights.path} ({_describe(weights.sidecar)})")
        if args.verify:
            recorded = weights.sidecar["figures"]["check"]
            measured = shipped.check_survey_figures(
                weights.path, recorded["n_stars"], recorded["seed"], workers=os.cpu_count() or 1
            )
            if problems := shipped.compare_figures(recorded, measured, weights.sidecar["tolerance"]):
                raise shipped.ShippedWeightsError(weights.path, "figures moved: " + "; ".join(problems))
            print(f"reproduced the figures recorded on the {recorded['n_stars']}-star check survey")
        return
    config = load_config(args.config)
    sidecar = shipped.ship_weights(
        _store(args),
        config,
        n_stars=args.n_stars,
        seed=args.seed,
        out_dir=Path(args.out) if args.out else None,
        retrain=not args.reuse,
        progress=not args.quiet,
    )
    figures = json.loads(sidecar.read_text(encoding="utf-8"))["figures"]
    for survey, values in figures.items():
        print(f"{survey}: heads R² {values['heads_r2']}; binary AUC {values.get('binary_auc')}")
    print(f"wrote {sidecar.with_name(shipped.MODEL_FILE)} and {sidecar}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from training.evaluate import checkpoint_embedding, evaluate_survey

    store = _store(args).snapshot()  # one store generation, whatever desa ingest/embed do meanwhile
    variants = {}
    for text in args.variant:
        name, sep, path = text.partition("=")
        if not (sep and name and path):
            raise ValueError(
                f"--variant {text!r}: expected NAME=CHECKPOINT, e.g. preserve=models/p/aligned.pt"
            )
        variants[name] = checkpoint_embedding(store, Path(path), progress=not args.quiet)
    report = evaluate_survey(
        store,
        checkpoint=_checkpoint(args),
        seed=args.seed,
        seeds=args.seeds,
        baselines=not args.no_baselines,
        variants=variants,
        progress=not args.quiet,
    )
    print(report.markdown)
    print(f"report written to {report.folder}")


def cmd_ablate(args: argparse.Namespace) -> None:
    from training.ablation import AblationConfig, run_ablation

    config = AblationConfig(
        align_steps=args.align_steps,
        finetune_steps=args.finetune_steps,
        batch_size=args.batch_size,
        info_weight=args.info_weight,
        variants=tuple(v for v in (args.variants or "").split(",") if v),
        extra_fractions=tuple(args.extra_fraction),
    )
    store = _store(args).snapshot()  # one store generation, whatever desa ingest/embed do meanwhile
    report = run_ablation(store, _checkpoint(args), config, seed=args.seed, progress=not args.quiet)
    print(report.markdown)
    print(f"ablation written to {report.folder}")


def cmd_export(args: argparse.Namespace) -> None:
    from data.provenance import provenance
    from data.query import expression_mask
    from data.storage import export_table

    out = Path(args.out)
    if out.exists() and not args.overwrite:  # checked again when the file gets its name
        raise FileExistsError(f"{out}: exists; pass --overwrite to replace it")
    store = _store(args).snapshot()  # catalogue and provenance from one store generation
    catalog = store.read_catalog()
    # The dashboard's selection language: parsed, never executed (similar() needs the dashboard).
    selected = catalog[expression_mask(args.query, catalog)] if args.query else catalog
    meta = provenance(store.root, args.query or "", len(selected), generation=store.generation or "")
    meta["creator"] = "desa export"
    try:
        path = export_table(selected, out, fmt=args.format, meta=meta, overwrite=args.overwrite)
    except FileExistsError as exc:
        raise FileExistsError(f"{out}: exists; pass --overwrite to replace it") from exc
    print(f"wrote {len(selected)} stars to {path}")


#: ``desa serve`` options passed to ``panel serve`` unchanged (secrets go through the environment).
OAUTH_OPTIONS = ("oauth_provider", "oauth_key", "oauth_redirect_uri", "oauth_extra_params", "oauth_jwt_user")
COOKIE_SECRET_FILE = ".desa_cookie_secret"
#: The ``panel serve --plugins`` module answering ``/liveness`` without building a page.
LIVENESS_PLUGIN = "dashboard.liveness"


def _auth_on(args: argparse.Namespace) -> bool:
    return bool(args.basic_auth or args.oauth_provider)


def serve_command(args: argparse.Namespace) -> list[str]:
    """The ``panel serve`` command line for the dashboard (nothing imports the dashboard).

    Secrets (cookie secret, OAuth secret and encryption key) are not on it: they go through the
    environment (:func:`serve_environment`), so ``ps`` does not show them. A ``--basic-auth``
    argument should be a password file; a literal password would be visible to ``ps``.
    """
    spec = importlib.util.find_spec("dashboard")
    if spec is None or spec.origin is None:
        raise RuntimeError("the dashboard package is not installed")
    app = Path(spec.origin).with_name("app.py")
    if args.address not in LOOPBACK and not (_auth_on(args) or args.allow_anonymous):
        raise PermissionError(
            f"refusing to serve on {args.address} without authentication: give --basic-auth FILE "
            "(a JSON file user -> password), --oauth-provider ..., or --allow-anonymous"
        )
    if args.num_procs < 0:
        raise ValueError(f"--num-procs {args.num_procs}: 1 or more worker processes (0 = one per core)")
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
    # Behind a reverse proxy the browser's Origin is the public host, not the bound address.
    for origin in args.allow_websocket_origin or []:
        cmd += ["--allow-websocket-origin", origin]
    if args.prefix:
        cmd += ["--prefix", args.prefix]
    if args.use_xheaders:
        cmd += ["--use-xheaders"]
    if args.basic_auth:
        cmd += ["--basic-auth", args.basic_auth]
    for name in OAUTH_OPTIONS:
        value = getattr(args, name)
        if value:
            cmd += [f"--{name.replace('_', '-')}", value]
    if args.liveness:
        # Ours, not Panel's --liveness: that one builds a whole page for anonymous callers.
        cmd += ["--plugins", LIVENESS_PLUGIN]
    return cmd


def cookie_secret(data_root: Path) -> str:
    """The server's cookie secret: read from ``<data root>/.desa_cookie_secret``, created (0600) once.

    The same secret across restarts keeps users logged in; a file others can read is refused.
    """
    import secrets
    import stat

    from data.storage import atomic_write_text

    path = Path(data_root) / COOKIE_SECRET_FILE
    if path.is_file():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PermissionError(f"{path}: readable by others (mode {mode:o}); run `chmod 600 {path}`")
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) < 32:
            raise ValueError(f"{path}: cookie secret shorter than 32 characters; delete the file to renew it")
        return secret
    secret = secrets.token_urlsafe(48)
    atomic_write_text(path, secret + "\n", mode=0o600)  # 0600 before it has its name
    log.info("created cookie secret %s (mode 600)", path)
    return secret


#: Secrets of ``desa serve``: option stem -> (environment variable we read, Panel's variable).
SECRETS = {
    "cookie_secret": ("DESA_COOKIE_SECRET", "PANEL_COOKIE_SECRET"),
    "oauth_secret": ("DESA_OAUTH_SECRET", "PANEL_OAUTH_SECRET"),
    "oauth_encryption_key": ("DESA_OAUTH_ENCRYPTION_KEY", "PANEL_OAUTH_ENCRYPTION"),
}


def read_secret_file(path: str | Path) -> str:
    """A secret from a file only its owner can read (mode 600 or stricter); refused otherwise."""
    import stat

    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the secret file ({exc.strerror})") from exc
    if mode & 0o077:
        raise PermissionError(f"{path}: readable by others (mode {mode:o}); run `chmod 600 {path}`")
    if not text:
        raise ValueError(f"{path}: the secret file is empty")
    return text


def secret(args: argparse.Namespace, stem: str) -> str | None:
    """A secret from ``--<stem>-file`` or its environment variable; never from the command line.

    A secret given as a command-line value would stay visible in ``ps`` for the whole life of
    the long-running ``desa serve`` process, so there is no such option (:class:`_RefuseSecret`).
    """
    env_name, _ = SECRETS[stem]
    path = getattr(args, f"{stem}_file", None)
    if path:
        return read_secret_file(path)
    return os.environ.get(env_name) or None


def serve_environment(args: argparse.Namespace, data_root: Path) -> dict[str, str]:
    """Environment for ``panel serve``: cookie secret (when authentication is on) and OAuth secrets.

    The environment of a process is readable only by its owner (``/proc/PID/environ`` is 0400),
    unlike its command line.
    """
    env: dict[str, str] = {}
    if _auth_on(args):
        env["PANEL_COOKIE_SECRET"] = secret(args, "cookie_secret") or cookie_secret(data_root)
    for stem in ("oauth_secret", "oauth_encryption_key"):
        if value := secret(args, stem):
            env[SECRETS[stem][1]] = value
    return env


class _RefuseSecret(argparse.Action):
    """``--cookie-secret VALUE`` and friends: refused with the way to pass the secret instead."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: object, values: object, option: object = None
    ) -> None:
        stem = self.dest
        parser.error(
            f"{option}: a secret on the command line is visible to every user in `ps`; "
            f"set ${SECRETS[stem][0]} or give --{stem.replace('_', '-')}-file FILE (chmod 600)"
        )


def cmd_serve(args: argparse.Namespace) -> None:
    cmd = serve_command(args)
    if args.basic_auth and not Path(args.basic_auth).is_file() and args.address not in LOOPBACK:
        log.warning("--basic-auth is a literal password: other users see it in `ps`; use a JSON file")
    store = _store(args)
    if not store.has_catalog():
        raise DataError(store.catalog_path, "catalog", "not found; run `make demo` or `desa ingest` first")
    env = {
        **os.environ,
        **serve_environment(args, store.root.parent),
        "DESA_DATA_DIR": str(store.root.parent),
        "DESA_SURVEY": store.root.name,
        "DESA_LIVENESS_ENDPOINT": args.liveness_endpoint.strip("/"),
    }
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
        "ship-weights": (
            "retrain the demo model and rewrite the weights shipped in the package (or --check them)",
            cmd_ship_weights,
        ),
        "evaluate": ("evaluate the embedding on the test split; write a report", cmd_evaluate),
        "ablate": ("retrain the fusion variants on a run's encoders and probe each", cmd_ablate),
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
    s.add_argument("--workers", type=int, default=None, help="processes (default: all CPU cores)")
    s.add_argument(
        "--report",
        action="store_true",
        help="also write PNG figures (CMD, HR, Prot-Teff, examples) to <out>/report",
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
    s.add_argument(
        "--nproc-per-node",
        type=int,
        default=1,
        help="data-parallel processes on this machine, launched with torchrun (gloo on CPU, nccl on GPU)",
    )
    s.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when present)")
    for name in ("embed", "evaluate", "ablate"):
        subs[name].add_argument("--run", default="demo", help="training run name (default demo)")
        subs[name].add_argument("--checkpoint", default=None, help="explicit checkpoint path")
    subs["embed"].add_argument(
        "--max-fit",
        type=int,
        default=100_000,
        help="above this many stars, fit UMAP on a seeded sample and place the rest in its layout",
    )
    subs["embed"].add_argument(
        "--shipped",
        action="store_true",
        help="use the weights shipped in the package for --run (checked against this code and survey)",
    )
    s = subs["ship-weights"]
    s.add_argument(
        "--config", default="demo", help="shipped config name whose weights to rebuild (default demo)"
    )
    s.add_argument("--n-stars", type=int, default=2500, help="survey size to train on (default 2500)")
    s.add_argument("--seed", type=int, default=0, help="simulation and split seed of that survey (default 0)")
    s.add_argument("--reuse", action="store_true", help="ship the finished run in the survey, do not retrain")
    s.add_argument(
        "--out", default=None, help="output folder (default: the package's training/weights/<config>)"
    )
    s.add_argument("--check", action="store_true", help="only check the shipped weights; exit 1 if refused")
    s.add_argument(
        "--verify",
        action="store_true",
        help="also rebuild the check survey and reproduce the recorded figures",
    )
    subs["evaluate"].add_argument("--seed", type=int, default=0, help="seed of the binary ORACLE")
    subs["evaluate"].add_argument(
        "--seeds", type=int, default=3, help="probe seeds: each figure is a mean ± std over them (default 3)"
    )
    subs["evaluate"].add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=CHECKPOINT",
        help="also probe this checkpoint's frozen embedding (its own encoders and fusion), repeatable",
    )
    subs["evaluate"].add_argument(
        "--no-baselines", action="store_true", help="skip the four baselines (DESA's figures only)"
    )
    s = subs["ablate"]
    s.add_argument("--align-steps", type=int, default=800, help="alignment steps per variant (default 800)")
    s.add_argument("--finetune-steps", type=int, default=0, help="fine-tuning steps per variant (default 0)")
    s.add_argument("--batch-size", type=int, default=0, help="batch size (default: the run's own)")
    s.add_argument("--info-weight", type=float, default=0.5, help="InfoNCE weight of the (d) variants")
    s.add_argument(
        "--variants",
        default=None,
        help="comma-separated subset of: paper, tokens, residual, wide, info, preserve_noinfo, preserve",
    )
    s.add_argument(
        "--extra-fraction",
        type=float,
        action="append",
        default=[],
        help="also report R² with this fraction of training labels (repeatable), e.g. 1.0",
    )
    s.add_argument("--seed", type=int, default=0, help="initialisation and batch-order seed")
    s = subs["export"]
    s.add_argument(
        "--query",
        default=None,
        help="selection expression (the dashboard's language, see data/query.py), "
        'e.g. "binary_prob > 0.9 and box(bp_rp_mag, abs_g_mag, 0.8, 1.2, 3, 5)"',
    )
    s.add_argument("--format", choices=("csv", "ecsv", "votable", "fits"), default="votable")
    s.add_argument("--out", required=True, help="output file (an existing one needs --overwrite)")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    s = subs["serve"]
    s.add_argument("--address", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=5006, help="port (default 5006)")
    s.add_argument(
        "--num-procs",
        type=int,
        default=1,
        help="worker processes, each with its own sessions and catalogue cache (0 = one per core)",
    )
    s.add_argument(
        "--basic-auth",
        default=None,
        metavar="FILE",
        help="JSON file {user: password} (chmod 600), or one password (visible in `ps`)",
    )
    s.add_argument(
        "--cookie-secret-file",
        default=None,
        metavar="FILE",
        help="file (chmod 600) with the secret signing login cookies, or $DESA_COOKIE_SECRET "
        f"(default with auth: created once in <data root>/{COOKIE_SECRET_FILE}, mode 600)",
    )
    for stem in SECRETS:
        s.add_argument(f"--{stem.replace('_', '-')}", dest=stem, action=_RefuseSecret, help=argparse.SUPPRESS)
    s.add_argument("--oauth-provider", default=None, help="Panel OAuth provider, e.g. github, google, azure")
    s.add_argument("--oauth-key", default=None, help="OAuth client id")
    s.add_argument(
        "--oauth-secret-file",
        default=None,
        metavar="FILE",
        help="OAuth client secret: file (chmod 600) or $DESA_OAUTH_SECRET",
    )
    s.add_argument("--oauth-redirect-uri", default=None, help="public URL of the login callback")
    s.add_argument("--oauth-extra-params", default=None, help="extra provider parameters (a dict literal)")
    s.add_argument("--oauth-jwt-user", default=None, help="JWT claim naming the user")
    s.add_argument(
        "--oauth-encryption-key-file",
        default=None,
        metavar="FILE",
        help="key encrypting user info in cookies: file (chmod 600) or $DESA_OAUTH_ENCRYPTION_KEY",
    )
    s.add_argument("--allow-anonymous", action="store_true", help="serve a non-loopback address without auth")
    s.add_argument(
        "--allow-websocket-origin",
        action="append",
        metavar="HOST[:PORT]",
        help="public host[:port] the browser uses (behind a reverse proxy); repeatable",
    )
    s.add_argument("--prefix", default=None, help="URL prefix when the proxy serves under a sub-path")
    s.add_argument("--use-xheaders", action="store_true", help="trust the proxy's X-Forwarded-* headers")
    s.add_argument(
        "--liveness",
        action="store_true",
        help="answer GET /liveness for monitors and probes (no login; never builds a page)",
    )
    s.add_argument("--liveness-endpoint", default="liveness", help="path of the liveness endpoint")
    return parser


def main(argv: list[str] | None = None) -> int:
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
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
