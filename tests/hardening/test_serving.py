"""Serving: authentication, cookie secret, processes, liveness, proxies, and no file reads via URLs.

The command-line tests check the ``panel serve`` command ``desa serve`` builds; the server tests
start a real ``desa serve`` on 127.0.0.1 with a basic-auth password file and talk HTTP to it.
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import json
import os
import re
import signal
import stat
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from served import desa_serve, status

from benchmarks import fixtures
from training.cli import (
    COOKIE_SECRET_FILE,
    LIVENESS_PLUGIN,
    SAMP_WEB_PLUGIN,
    build_parser,
    cookie_secret,
    serve_command,
    serve_environment,
)

USER, PASSWORD = "astro", "correct horse battery staple"
SECRET = "DESA-H9-OUTSIDE-SECRET-7f3a"


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


# --- the command line ---------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.20", "desa.example.org"])
def test_non_loopback_without_auth_refuses(address: str) -> None:
    with pytest.raises(PermissionError, match="without authentication"):
        serve_command(_args("--address", address))


def test_loopback_needs_no_auth_and_anonymous_must_be_explicit() -> None:
    cmd = serve_command(_args())
    assert _flag(cmd, "--address") == "127.0.0.1" and "--basic-auth" not in cmd
    cmd = serve_command(_args("--address", "0.0.0.0", "--allow-anonymous"))
    assert _flag(cmd, "--address") == "0.0.0.0"


def test_command_has_auth_processes_liveness_and_proxy_flags(tmp_path: Path) -> None:
    passwords = tmp_path / "passwords.json"
    cmd = serve_command(
        _args(
            "--address",
            "0.0.0.0",
            "--port",
            "8080",
            "--basic-auth",
            str(passwords),
            "--num-procs",
            "4",
            "--liveness",
            "--allow-websocket-origin",
            "desa.example.org",
            "--allow-websocket-origin",
            "desa.example.org:443",
            "--prefix",
            "/desa",
            "--use-xheaders",
        )
    )
    assert cmd[1:4] == ["-m", "panel", "serve"] and cmd[4].endswith("app.py")
    assert _flag(cmd, "--port") == "8080"
    assert _flag(cmd, "--basic-auth") == str(passwords)
    assert _flag(cmd, "--num-procs") == "4"
    # Several workers: a page request is answered from a kept page and the session is built once,
    # where its websocket lands (not twice when that is another worker); one worker has no need.
    assert "--reuse-sessions" in cmd and "--reuse-sessions" not in serve_command(_args())
    # Our liveness plugin, not Panel's --liveness (which builds a page for anonymous callers).
    plugins = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--plugins"]
    assert LIVENESS_PLUGIN in plugins and "--liveness" not in cmd
    # And the route of the tables offered over the SAMP Web Profile.
    assert SAMP_WEB_PLUGIN in plugins
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--allow-websocket-origin"] == [
        "desa.example.org",
        "desa.example.org:443",
    ]
    assert _flag(cmd, "--prefix") == "/desa" and "--use-xheaders" in cmd
    # Secrets never go on the command line (``ps`` shows it to every user).
    assert "--cookie-secret" not in cmd and "--oauth-secret" not in cmd
    # Each worker builds one page at start (dashboard/warm.py), unless told not to.
    assert _flag(cmd, "--setup").endswith("warm.py")
    assert "--setup" not in serve_command(_args("--no-warm"))


def test_websocket_origin_is_passed_on_loopback_too() -> None:
    # Behind nginx the server binds 127.0.0.1 but browsers connect from the public host.
    cmd = serve_command(_args("--allow-websocket-origin", "desa.example.org"))
    assert _flag(cmd, "--allow-websocket-origin") == "desa.example.org"


def _secret_file(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def test_oauth_options_pass_through_and_count_as_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESA_OAUTH_ENCRYPTION_KEY", "enc-key")
    args = _args(
        "--address",
        "0.0.0.0",
        "--oauth-provider",
        "github",
        "--oauth-key",
        "client-id",
        "--oauth-secret-file",
        _secret_file(tmp_path, "oauth.secret", "client-secret"),
        "--oauth-redirect-uri",
        "https://desa.example.org/login",
    )
    cmd = serve_command(args)
    assert _flag(cmd, "--oauth-provider") == "github" and _flag(cmd, "--oauth-key") == "client-id"
    assert _flag(cmd, "--oauth-redirect-uri") == "https://desa.example.org/login"
    assert "client-secret" not in cmd and "enc-key" not in cmd
    env = serve_environment(args, tmp_path)
    assert env["PANEL_OAUTH_SECRET"] == "client-secret" and env["PANEL_OAUTH_ENCRYPTION"] == "enc-key"
    assert len(env["PANEL_COOKIE_SECRET"]) >= 32


@pytest.mark.parametrize("option", ["--cookie-secret", "--oauth-secret", "--oauth-encryption-key"])
def test_a_secret_on_the_command_line_is_refused(option: str, capsys: pytest.CaptureFixture) -> None:
    """The long-running `desa serve` would show it in `ps` to every user for its whole life."""
    with pytest.raises(SystemExit):
        _args("--basic-auth", "pw.json", option, "s3cret-value")
    err = capsys.readouterr().err
    assert "visible to every user in `ps`" in err and "-file FILE" in err


def test_a_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = Path(_secret_file(tmp_path, "oauth.secret", "client-secret"))
    path.chmod(0o644)
    args = _args("--oauth-provider", "github", "--oauth-secret-file", str(path))
    with pytest.raises(PermissionError, match="chmod 600"):
        serve_environment(args, tmp_path)


def test_negative_process_count_is_refused() -> None:
    with pytest.raises(ValueError, match="--num-procs"):
        serve_command(_args("--num-procs", "-2"))


def test_cookie_secret_is_created_once_with_mode_600(tmp_path: Path) -> None:
    assert serve_environment(_args(), tmp_path) == {}  # no auth, no secret needed
    first = cookie_secret(tmp_path)
    path = tmp_path / COOKIE_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and cookie_secret(tmp_path) == first
    env = serve_environment(_args("--basic-auth", "pw.json"), tmp_path)
    assert env["PANEL_COOKIE_SECRET"] == first
    given_file = _secret_file(tmp_path, "cookie.secret", "x" * 40)
    given = serve_environment(_args("--basic-auth", "pw.json", "--cookie-secret-file", given_file), tmp_path)
    assert given["PANEL_COOKIE_SECRET"] == "x" * 40
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        cookie_secret(tmp_path)
    assert not list(tmp_path.glob(".*.tmp"))


# --- a real server --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """``desa serve`` on a 300-star synthetic survey with a basic-auth password file."""
    base = tmp_path_factory.mktemp("serving")
    data_root = base / "data"
    fixtures.write_synthetic_survey(data_root / "hard", n=300, seed=1)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    passwords = base / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    passwords.chmod(0o600)
    with desa_serve(data_root, "hard", "--basic-auth", str(passwords), log_path=base / "serve.log") as (
        url,
        _,
    ):
        yield url, data_root, outside


def _login(base: str, password: str) -> tuple[urllib.request.OpenerDirector, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status(base + "/app", opener)  # sets the next_url cookie like a browser would
    data = urllib.parse.urlencode({"username": USER, "password": password}).encode()
    with opener.open(base + "/login", data=data, timeout=60) as response:
        final = response.geturl()
    return opener, final


def test_liveness_answers_without_login(server) -> None:
    base, _, _ = server
    code, _, body = status(base + "/liveness")
    assert code == 200 and json.loads(body) == {"/liveness": True}
    code, _, body = status(base + "/liveness?endpoint=/app")
    assert code == 200 and json.loads(body) == {"/app": True}
    code, _, body = status(base + "/liveness?endpoint=" + urllib.parse.quote("<b>x</b>"))
    assert code == 400 and "<b>x</b>" not in body, "an unknown endpoint is not echoed"


def test_liveness_never_builds_a_page(tmp_path: Path) -> None:
    """A catalogue no page can be built from: a page build would fail, the liveness check does not.

    Panel's own ``--liveness`` builds the app document for ``?endpoint=/app``, for anyone (HTTP 500
    here); ours only checks that the catalogue file is in place.
    """
    store = tmp_path / "data" / "broken" / "store"
    store.mkdir(parents=True)
    (store / "catalog.parquet").write_bytes(b"not a parquet file")
    log_path = tmp_path / "serve.log"
    # --no-warm: the warm-up at start would be a page build of its own (dashboard/warm.py).
    with desa_serve(tmp_path / "data", "broken", "--no-warm", log_path=log_path) as (url, _):
        for _ in range(3):
            code, _, body = status(url + "/liveness?endpoint=/app")
            assert (code, body) == (200, '{"/app": true}'), (code, body[:300])
        time.sleep(1.0)  # let the server write what it would log
        assert "Traceback" not in log_path.read_text(), log_path.read_text()[-2000:]
        status(url + "/app")  # a page request builds the document: this one fails, and says so
        time.sleep(1.0)
    assert "ArrowInvalid" in log_path.read_text(), "the broken catalogue did not break a page build"


@pytest.mark.parametrize("procs", ["1", "2"])
def test_stopping_desa_serve_by_its_pid_stops_the_server(tmp_path: Path, procs: str) -> None:
    """``kill PID`` of ``desa serve`` (by hand, or a process supervisor) leaves nothing listening.

    ``desa serve`` once ran ``panel serve`` as a child: the signal ended the parent only and the
    server kept the port, so the next start failed with "port already in use". With two processes
    the workers Tornado forks must stop too (dashboard/worker_exit.py).
    """
    fixtures.write_synthetic_survey(tmp_path / "data" / "stop", n=50, seed=3)
    options = ("--no-warm", "--num-procs", procs)
    with desa_serve(tmp_path / "data", "stop", *options, log_path=tmp_path / "serve.log") as (url, pid):
        assert status(url + "/liveness")[0] == 200
        os.kill(pid, signal.SIGTERM)  # the pid it was started as, not its process group
        deadline = time.monotonic() + 30
        while status(url + "/liveness")[0] != 0 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert status(url + "/liveness")[0] == 0, "the server still answers after its pid was stopped"


def test_the_worker_built_one_page_before_its_first_session(server) -> None:
    """The warm-up page of ``panel serve --setup dashboard/warm.py`` ran in the worker at start."""
    _, data_root, _ = server
    log = (data_root.parent / "serve.log").read_text()
    assert re.search(r"worker warmed up: one page built in [0-9.]+ s of CPU", log), log[-2000:]


def test_unauthenticated_requests_are_refused(server) -> None:
    base, data_root, _ = server
    _, final, body = status(base + "/app")
    assert "/login" in final, final  # sent to the login form instead of the app
    assert str(data_root) not in body and "Survey:" not in body
    _, final = _login(base, "wrong password")
    assert "error=" in final
    assert (data_root / COOKIE_SECRET_FILE).is_file()
    assert stat.S_IMODE((data_root / COOKIE_SECRET_FILE).stat().st_mode) == 0o600


def test_login_with_the_password_file_opens_the_app(server, logged_in) -> None:
    base, _, _ = server
    code, final, body = status(base + "/app", logged_in)
    assert code == 200 and "/login" not in final and "bokeh" in body.lower()


#: Every parameter a file-reading feature might take, pointed outside the data folder, at once.
APP_ATTACKS = (
    "survey=../../etc&path=/etc/passwd&file={outside}/secret.txt&survey_dir={outside}"
    "&DESA_DATA_DIR={outside}&DESA_SURVEY=..&data_dir={outside}&export=../../../outside/secret.txt"
    "&checkpoint={outside}/secret.txt&catalog={outside}/secret.txt",
    "survey=..%2F..%2Foutside&path={outside}/secret.txt&dir=/etc",
)
PATH_ATTACKS = (
    "/static/../../../../etc/passwd",
    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/extensions/..%2F..%2F..%2F..%2F..%2Fetc/passwd",
    "/app/../../../etc/passwd",
    "/..%2F..%2F..%2Fetc%2Fpasswd",
    "/liveness?endpoint=../../etc/passwd",
    "/login?next=file:///etc/passwd",
)


@pytest.fixture(scope="module")
def logged_in(server) -> urllib.request.OpenerDirector:
    opener, final = _login(server[0], PASSWORD)
    assert "/login" not in final
    return opener


@pytest.mark.parametrize("attack", PATH_ATTACKS)
def test_urls_cannot_read_files_outside_the_data_folder(server, logged_in, attack: str) -> None:
    """Paths outside the app.

    ``/app?...`` links are checked on the page's document below: the HTTP body of ``/app`` is
    Bokeh's bootstrap page, which holds none of the app's text, so no check of that body could see
    a leak.
    """
    base, _, outside = server
    code, _, body = status(base + attack.format(outside=outside), logged_in)
    assert SECRET not in body
    assert "root:x:0:0" not in body
    assert code != 200 or len(body) < 200_000, (code, body[:300])


@pytest.fixture(scope="module")
def open_server(server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same survey served without authentication (loopback), for bokeh.client sessions."""
    _, data_root, _ = server
    log_path = tmp_path_factory.mktemp("serving_open") / "serve.log"
    with desa_serve(data_root, "hard", log_path=log_path) as (url, _):
        yield url


def _import_panel_models() -> None:
    """A bokeh.client session decodes the page's models: Panel's lazily imported ones included.

    And the app's own components (Panel ``JSComponent``s: their Bokeh data models are made when
    their classes are, as in the server).
    """
    import importlib
    import pkgutil

    import panel.models

    for module in ("dashboard.samp_web", "dashboard.views.keys"):  # SampWebClient, KeyListener
        importlib.import_module(module)
    for info in pkgutil.iter_modules(panel.models.__path__):
        try:
            importlib.import_module(f"panel.models.{info.name}")
        except ImportError:
            continue  # optional extensions (e.g. a missing JS library wrapper) the app does not use


def _texts(doc) -> list[str]:
    out = []
    for model in doc.models:
        for name in ("text", "object", "value", "title", "label"):
            if name in model.properties():
                value = getattr(model, name)
                if isinstance(value, str):
                    out.append(value)
    return out


@pytest.mark.parametrize("query", APP_ATTACKS)
def test_a_session_serves_the_configured_survey_whatever_the_url_asks(open_server, server, query) -> None:
    """The document a ``/app?...`` link builds (what the browser is sent over the websocket)."""
    from bokeh.client import pull_session

    _import_panel_models()

    _, data_root, outside = server
    arguments = dict(urllib.parse.parse_qsl(query.format(outside=outside)))
    with pull_session(url=open_server + "/app", arguments=arguments) as session:
        texts = _texts(session.document)
    joined = html.unescape("\n".join(texts))
    assert re.search(rf"Survey: <code>{re.escape(str(data_root / 'hard'))}</code>", joined), joined[-500:]
    assert SECRET not in joined and "root:x:0:0" not in joined


def test_a_running_server_gives_each_new_session_the_current_generation(tmp_path: Path) -> None:
    """``desa ingest`` while the server runs: the next session shows the new store whole."""
    from bokeh.client import pull_session

    _import_panel_models()
    synthetic = fixtures
    data_root = tmp_path / "data"
    synthetic.write_synthetic_survey(data_root / "live", n=150, seed=1)
    with desa_serve(data_root, "live", log_path=tmp_path / "serve.log") as (url, _):
        with pull_session(url=url + "/app") as session:
            before = html.unescape("\n".join(_texts(session.document)))
        synthetic.write_synthetic_survey(data_root / "live", n=90, seed=2)  # a new generation
        with pull_session(url=url + "/app") as session:
            after = html.unescape("\n".join(_texts(session.document)))
    assert "· 150 stars" in before and "Selected: 0 / 150" in before, before[-300:]
    # The catalogue, its truth and the kNN index all come from the new generation: an index of
    # the old one (150 rows) would have failed the page ("150 rows for a catalogue of 90 stars").
    assert "· 90 stars" in after and "Selected: 0 / 90" in after, after[-300:]
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_a_session_opened_by_its_websocket_asks_no_cdn(open_server) -> None:
    """A page built for a websocket alone points its stylesheets at this server, not a CDN.

    (As another worker than the page request's builds it with ``--num-procs`` > 1.) Its first
    document and each part that arrives after it (dashboard/deferred.py) alike.
    """
    import asyncio
    import json

    from benchmarks.soak_protocol import Connection, ui_event

    async def pull() -> tuple[str, str]:
        conn, document = await Connection.open(open_server + "/app", timeout=120)
        patches: list[str] = []
        conn.on_patch = lambda events: patches.append(json.dumps(events))
        # Announced loaded, the session builds its deferred parts (dashboard/deferred.py); the
        # population templates come last.
        conn.patch(ui_event("document_ready"))
        for _ in range(1200):
            if any("template-pair" in patch for patch in patches):
                break
            await asyncio.sleep(0.1)
        await conn.close()
        return json.dumps(document), "\n".join(patches)

    document, parts = asyncio.run(pull())
    assert "template-pair" in parts, "the deferred parts did not arrive"
    assert "static/extensions/panel/" in document
    for sent in (document, parts):
        assert "cdn.holoviz.org" not in sent
