"""``panel serve --plugins`` module of ``desa serve --num-procs`` > 1: workers stop with their main process.

With more than one process Tornado forks the workers from the main process, which is the pid
``desa serve`` was started as. A signal to that pid alone (``kill PID``, or a process supervisor
that signals the pid it started) ended the main process, and the workers, which share its listening
socket, went on serving: the port stayed taken and the next start failed
(tests/hardening/test_serving.py). Each worker now watches its parent from the moment it is forked
and stops itself (SIGTERM, as a supervisor would) once the parent has gone. Under systemd
(docs/DEPLOY.md: ``KillMode=control-group``) every process gets the signal anyway.
"""

from __future__ import annotations

import os
import signal
import threading
import time

#: How often a worker looks whether its parent is still there [s].
POLL_S = 1.0
#: A plugin module serves routes; this one serves none.
ROUTES: list = []


def watch_parent(parent: int, poll_s: float = POLL_S) -> None:
    """Send this process SIGTERM once its parent is no longer ``parent`` (it exited; we were re-parented)."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGTERM)


def _after_fork_in_child() -> None:
    threading.Thread(target=watch_parent, args=(os.getppid(),), name="desa-parent-watch", daemon=True).start()


# Imported by ``panel serve`` in the main process, before Tornado forks the workers.
os.register_at_fork(after_in_child=_after_fork_in_child)
