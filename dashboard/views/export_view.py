"""Sidebar export: one download button per format, and "Send to TOPCAT/Aladin (SAMP)".

A download is written into a private per-session temporary folder (data.storage writes it
atomically) and sent to the browser through the websocket; download names hold only
``[A-Za-z0-9._-]``. The buttons are disabled, with the reason shown, while nothing is selected or
the selection is larger than the row limit, and the server checks the same limit again before it
copies a row (a request need not come from the button). A download travels as one websocket
message, so a file above ``MAX_DOWNLOAD_BYTES`` is refused with a message (use ``desa export`` on
the server), judged from a sample before the file is written. SAMP sends a file URL, not bytes:
it has the row limit, checked first too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from dashboard.elsewhere import atlas_frame, translations, write_atlas
from dashboard.export import (
    DEFAULT_MAX_ROWS,
    ExportError,
    ExportFolder,
    check_size,
    default_filename,
    export_columns,
    selection_export,
)
from dashboard.safe_text import escape_markdown
from dashboard.samp import SampError, broadcast_selection
from dashboard.state import DashboardState
from data.provenance import provenance

#: Largest download sent through the websocket (base64 adds a third; Tornado's default limit is 20 MiB).
MAX_DOWNLOAD_BYTES = 14 * 2**20

#: Largest Embedding Atlas export: its exact kNN (15 neighbours per star) runs in the session and
#: grows as the square of the rows (about 3 s at 10,000 stars here).
MAX_ATLAS_ROWS = 10_000

#: Label of each format's button.
FORMATS = {"csv": "CSV", "ecsv": "ECSV", "votable": "VOTable", "fits": "FITS"}


def max_rows_setting() -> int:
    """The export row limit: ``DESA_EXPORT_MAX_ROWS`` or 1,000,000."""
    text = os.environ.get("DESA_EXPORT_MAX_ROWS", "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_ROWS


class ExportView(pn.viewable.Viewer):
    """Download buttons (CSV, ECSV, VOTable, FITS) and a SAMP broadcast of the selection."""

    state = param.ClassSelector(class_=DashboardState, doc="The session's shared state.")
    survey_dir = param.Path(default=None, check_exists=False, doc="The survey folder (provenance).")
    max_rows = param.Integer(default=DEFAULT_MAX_ROWS, bounds=(1, None), doc="Largest export, rows.")

    def __init__(self, **params: Any) -> None:
        params.setdefault("max_rows", max_rows_setting())
        super().__init__(**params)
        self._folder = ExportFolder()
        self._buttons = {
            fmt: pn.widgets.FileDownload(
                callback=self._callback(fmt),
                filename=None,
                label=f"Download {label}",
                embed=False,
                color="primary",
                css_classes=[f"export-{fmt}"],
                sizing_mode="stretch_width",
            )
            for fmt, label in FORMATS.items()
        }
        self._atlas = pn.widgets.FileDownload(
            callback=self._atlas_callback,
            filename="desa_atlas.parquet",
            label="Download for Embedding Atlas (Parquet)",
            embed=False,
            css_classes=["export-atlas"],
            sizing_mode="stretch_width",
            disabled=self.state.similar is None,
        )
        # The selection in ADQL and TOPCAT's language, as text to copy (a text area: never markup).
        self._elsewhere = pn.widgets.TextAreaInput(
            value="", disabled=True, rows=4, css_classes=["selection-elsewhere"], sizing_mode="stretch_width"
        )
        self._samp = pn.widgets.Button(label="Send to TOPCAT/Aladin (SAMP)", css_classes=["samp-send"])
        self._samp.on_click(lambda _event: self.send_samp())
        self._message = pn.pane.Alert("", alert_type="info", visible=False, css_classes=["export-message"])
        self._note = pn.pane.Markdown("", css_classes=["export-note"])
        self.state.param.watch(self._on_mask, "mask")
        self._on_mask()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(lambda _ctx: self._folder.cleanup())

    def _callback(self, fmt: str) -> Any:
        def write() -> str:
            self._message.visible = False
            try:
                return str(self.write(fmt))
            except ExportError as exc:
                # Shown to the user; the download then does not start (Panel logs the error).
                self._message.param.update(object=escape_markdown(exc), alert_type="warning", visible=True)
                raise

        return write

    def write(self, fmt: str) -> Path:
        """Write the selection as ``fmt`` for download; raises ExportError when it cannot be sent."""
        path = selection_export(
            self.state,
            Path(self.survey_dir),
            fmt,
            self._folder,
            max_rows=self.max_rows,
            max_bytes=MAX_DOWNLOAD_BYTES,
            user=_user(),
        )
        size = path.stat().st_size  # the estimate refused most oversized files before writing
        if size > MAX_DOWNLOAD_BYTES:
            path.unlink()
            raise ExportError(
                f"the {FORMATS[fmt]} file is {size / 2**20:.0f} MiB, above the "
                f"{MAX_DOWNLOAD_BYTES // 2**20} MiB a browser download can carry: narrow the selection, "
                f"try FITS (the most compact), or run 'desa export' on the server."
            )
        self._buttons[fmt].filename = path.name
        return path

    def _on_mask(self, *_events: param.parameterized.Event) -> None:
        n = self.state.n_selected
        problem = ""
        if n == 0:
            problem = "Select stars to export them."
        elif n > self.max_rows:
            problem = f"{n:,} stars selected; exports are limited to {self.max_rows:,} rows."
        for button in [*self._buttons.values(), self._samp]:
            button.disabled = bool(problem)
        self._atlas.disabled = bool(problem) or self.state.similar is None
        self._elsewhere.value = "\n".join(f"{k}: {v}" for k, v in translations(self.state.expression).items())
        self._note.object = problem or (
            f"{n:,} stars with units, UCDs and provenance (model, catalogue, expression, date)."
        )

    def write_atlas(self) -> Path:
        """The selection as an Embedding Atlas Parquet file (UMAP position, neighbours, provenance)."""
        check_size(self.state.n_selected, min(self.max_rows, MAX_ATLAS_ROWS))
        frame = self.state.selected_frame(export_columns(self.state.catalog))
        vectors = self.state.similar.index.vectors_[np.flatnonzero(self.state.mask)]
        path = self._folder.new_path(
            default_filename(Path(self.survey_dir), "csv").replace(".csv", ".parquet")
        )
        meta = provenance(
            Path(self.survey_dir),
            self.state.expression,
            len(frame),
            user=_user(),
            generation=self.state.generation,
        )
        write_atlas(atlas_frame(frame, vectors), path, meta)
        self._atlas.filename = path.name
        return path

    def _atlas_callback(self) -> str:
        self._message.visible = False
        try:
            return str(self.write_atlas())
        except ExportError as exc:
            self._message.param.update(object=escape_markdown(exc), alert_type="warning", visible=True)
            raise

    def send_samp(self) -> bool:
        """Broadcast the selection as a VOTable to the SAMP hub; the outcome goes in the message."""
        try:
            path = selection_export(
                self.state,
                Path(self.survey_dir),
                "votable",
                self._folder,
                max_rows=self.max_rows,
                user=_user(),
            )
            receivers = broadcast_selection(path, name=path.stem)
        except (SampError, ExportError) as exc:
            self._message.param.update(object=escape_markdown(exc), alert_type="warning", visible=True)
            return False
        # Receiver names come from the SAMP hub's clients: text, not Markdown.
        sent = f"Sent {self.state.n_selected:,} stars to {escape_markdown(receivers)}."
        self._message.param.update(object=sent, alert_type="success", visible=True)
        return True

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            "### Export selection",
            self._note,
            *self._buttons.values(),
            self._atlas,
            self._samp,
            "Selection in ADQL / TOPCAT",
            self._elsewhere,
            self._message,
            sizing_mode="stretch_width",
        )


def _user() -> str | None:
    """The logged-in user (``--basic-auth``/OAuth) for the provenance; None when anonymous."""
    return pn.state.user
