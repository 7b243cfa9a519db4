"""Start and stop a real ``desa serve`` (``panel serve``) on 127.0.0.1 for the hardening tests."""

from __future__ import annotations

import urllib.error
import urllib.request
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

from benchmarks import common


def status(url: str, opener: urllib.request.OpenerDirector | None = None) -> tuple[int, str, str]:
    """(HTTP status, final URL, body) of a GET; errors become their status code."""
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=60) as response:
            return response.status, response.geturl(), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, url, exc.read().decode("utf-8", "replace")
    except OSError:
        return 0, url, ""


def desa_serve(data_root: Path, survey: str, *args: str, log_path: Path) -> ContextManager[tuple[str, int]]:
    """Run ``desa serve`` with liveness on; yield (base URL, server pid) once /liveness answers."""
    return common.desa_serve(data_root, survey, *args, log_path=log_path)
