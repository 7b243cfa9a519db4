"""SAMP: send the selection to TOPCAT or Aladin running beside the dashboard server.

The selection is written as a VOTable (with units, UCDs and provenance, dashboard/export.py) to a
temporary file on the server machine and announced to every client of the running SAMP hub with
``table.load.votable`` and that file's ``file://`` URL (DASHBOARD.md section 1, item 11: "load in
TOPCAT by URL"). It uses ``pyvo.samp``, the successor of ``astropy.samp`` (deprecated in astropy
8.0) with the same classes. The hub is found the standard way: ``$SAMP_HUB`` or ``~/.samp`` of the
user running the server, so this reaches desktop tools on the machine the dashboard runs on (a
laptop, or a workstation serving itself).
"""

from __future__ import annotations

import uuid
from pathlib import Path

MTYPE = "table.load.votable"
CLIENT_NAME = "DESA explorer"


class SampError(RuntimeError):
    """No hub, or no client of the hub that loads VOTables; the message says what to start."""


def broadcast_selection(votable: Path, *, name: str, hub_params: dict | None = None) -> str:
    """Announce ``votable`` to every hub client subscribed to ``table.load.votable``.

    Returns the receivers' names joined for display, e.g. ``"topcat, Aladin"``.

    Raises
    ------
    SampError
        When no hub runs or no client of it loads VOTables.
    """
    from pyvo.samp import SAMPHubError, SAMPIntegratedClient

    votable = Path(votable).resolve()
    if not votable.is_file():
        raise SampError(f"{votable}: the VOTable to send does not exist")
    client = SAMPIntegratedClient(
        name=CLIENT_NAME, description="DESA stellar embedding explorer: selected stars", callable=False
    )
    try:
        client.connect(hub_params=hub_params)
    except (SAMPHubError, OSError) as exc:
        raise SampError(
            "No SAMP hub is running: start TOPCAT or Aladin (each starts a hub) on the machine "
            f"running the dashboard, then send again ({exc})."
        ) from exc
    try:
        receivers = client.get_subscribed_clients(MTYPE)
        if not receivers:
            raise SampError(
                "The SAMP hub runs, but no client loads VOTables: start TOPCAT or Aladin, then send again."
            )
        message = {
            "samp.mtype": MTYPE,
            "samp.params": {
                "url": votable.as_uri(),
                "name": name,
                "table-id": f"desa-{uuid.uuid4().hex[:12]}",
            },
        }
        client.notify_all(message)
        names = []
        for receiver in receivers:
            meta = client.get_metadata(receiver)
            names.append(str(meta.get("samp.name", receiver)))
        return ", ".join(names)
    finally:
        client.disconnect()
