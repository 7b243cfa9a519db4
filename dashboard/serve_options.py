"""How ``desa serve`` serves the dashboard: its options, the ``panel serve`` command and its secrets.

The serving and security options live here, next to the app they configure, and the ``desa serve``
command (``training/cli/serve.py``) adds them to its parser (:func:`add_arguments`). Nothing here
imports Panel or the app: ``desa serve`` runs ``panel serve dashboard/app.py`` as a subprocess.

Security: a non-loopback address needs authentication (basic auth with a password file, or OAuth)
or an explicit ``--allow-anonymous``. Secrets (cookie secret, OAuth secret and encryption key) never
go on a command line, where ``ps`` shows them to every user: they come from a file only their owner
can read or from a ``DESA_*`` environment variable, and reach ``panel serve`` through its
environment (:func:`serve_environment`). DASHBOARD.md section 5 describes a deployment.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import stat
import sys
from pathlib import Path

from data.storage import atomic_write_text

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: ``desa serve`` options passed to ``panel serve`` unchanged (secrets go through the environment).
OAUTH_OPTIONS = ("oauth_provider", "oauth_key", "oauth_redirect_uri", "oauth_extra_params", "oauth_jwt_user")
COOKIE_SECRET_FILE = ".desa_cookie_secret"
#: The ``panel serve --plugins`` module answering ``/liveness`` without building a page.
LIVENESS_PLUGIN = "dashboard.liveness"
#: Serves the tables the page offers over the SAMP Web Profile (dashboard/samp_web.py).
SAMP_WEB_PLUGIN = "dashboard.samp_web_route"
#: With several processes: the forked workers stop when the main process has gone.
WORKER_EXIT_PLUGIN = "dashboard.worker_exit"
#: Secrets of ``desa serve``: option stem -> (environment variable we read, Panel's variable).
SECRETS = {
    "cookie_secret": ("DESA_COOKIE_SECRET", "PANEL_COOKIE_SECRET"),
    "oauth_secret": ("DESA_OAUTH_SECRET", "PANEL_OAUTH_SECRET"),
    "oauth_encryption_key": ("DESA_OAUTH_ENCRYPTION_KEY", "PANEL_OAUTH_ENCRYPTION"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the serving, authentication, proxy and liveness options of ``desa serve`` to ``parser``."""
    s = parser
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
    s.add_argument(
        "--no-warm",
        dest="warm",
        action="store_false",
        help="do not build one page in each worker process at start (dashboard/warm.py)",
    )


def _auth_on(args: argparse.Namespace) -> bool:
    return bool(args.basic_auth or args.oauth_provider)


def serve_command(args: argparse.Namespace) -> list[str]:
    """The ``panel serve`` command line for the dashboard (nothing imports the dashboard).

    Secrets (cookie secret, OAuth secret and encryption key) are not on it: they go through the
    environment (:func:`serve_environment`), so ``ps`` does not show them. A ``--basic-auth``
    argument should be a password file; a literal password would be visible to ``ps``.

    Raises
    ------
    PermissionError
        A non-loopback address without authentication or ``--allow-anonymous``.
    """
    app = Path(__file__).with_name("app.py")
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
    if args.num_procs != 1:
        # A page request and its websocket are two connections that Tornado may hand to two
        # workers. Panel's session reuse answers the page request from a page it keeps, and the
        # one session is built where the websocket lands: each page costs one build, not two.
        cmd += ["--reuse-sessions", "--plugins", WORKER_EXIT_PLUGIN]
    cmd += ["--plugins", SAMP_WEB_PLUGIN]
    if getattr(args, "warm", True):
        cmd += ["--setup", str(app.with_name("warm.py"))]
    if args.liveness:
        # Ours, not Panel's --liveness: that one builds a whole page for anonymous callers.
        cmd += ["--plugins", LIVENESS_PLUGIN]
    return cmd


def cookie_secret(data_root: Path) -> str:
    """The server's cookie secret: read from ``<data root>/.desa_cookie_secret``, created (0600) once.

    The same secret across restarts keeps users logged in; a file others can read is refused.
    """
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


def read_secret_file(path: str | Path) -> str:
    """A secret from a file only its owner can read (mode 600 or stricter); refused otherwise."""
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


def warn_literal_password(args: argparse.Namespace) -> None:
    """Log a warning when ``--basic-auth`` is a password, not a file, on a non-loopback address."""
    if args.basic_auth and not Path(args.basic_auth).is_file() and args.address not in LOOPBACK:
        log.warning("--basic-auth is a literal password: other users see it in `ps`; use a JSON file")


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
