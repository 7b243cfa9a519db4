"""Physics overlays on the CMD and HR views: isochrones of chosen ages and the equal-mass binary sequence.

The binary sequence is the single-star main sequence 2.5 log10 2 = 0.753 mag brighter in M_G
(+log10 2 in log L).

Curves come from ``data.isochrones`` (MIST v2.5 with Mamajek's Gaia colours): unreddened, so they
match the dereddened CMD; on the observed CMD the view shifts them by the catalogue's median
GSP-Phot reddening (``offset``). Each view gets one
``DynamicMap`` of a fixed set of layers (isochrone paths, their age labels, the single and binary
sequences) driven by the ``OverlaySettings`` parameters, so ticking a box redraws only these
curves: the base raster and the selection layer stay as they are.
"""

from __future__ import annotations

from functools import lru_cache

import holoviews as hv
import holoviews.plotting.bokeh  # registers the bokeh backend that .opts needs
import numpy as np
import pandas as pd
import panel as pn
import param

from dashboard import shared
from data import schema
from data.isochrones import EQUAL_MASS_OFFSET_MAG, isochrone, main_sequence_abs_g

#: Ages offered in the widget, in Gyr.
AGES_GYR = (0.1, 1.0, 4.0, 10.0)
#: Isochrone phases drawn: pre-main sequence to the tip of the red-giant branch. Later phases
#: (core helium burning, AGB, post-AGB) loop back across the diagram and hide the data.
DRAWN_PHASES = ("pre_ms", "ms", "subgiant", "rgb")
#: log L of an equal-mass binary above the single star: log10 2.
EQUAL_MASS_OFFSET_DEX = float(np.log10(2.0))
#: BP-RP range over which the main-sequence locus is drawn on the CMD.
MS_COLOUR_RANGE_MAG = (-0.1, 4.0)
#: The isochrone whose main sequence stands for the single-star sequence on the HR diagram.
MS_AGE_GYR = 1.0

ISOCHRONE_COLOR = "#0b3d91"
SINGLE_COLOR = "#555555"
BINARY_COLOR = "#D55E00"

#: Columns of each view's axes: (x, y) for the CMD and the HR diagram (the isochrones' columns).
AXES = {"cmd": schema.CMD_PROPERTIES, "hr": schema.HR_PROPERTIES}


def age_label(age_gyr: float) -> str:
    """The legend label of an isochrone age ("4 Gyr")."""
    return f"{age_gyr:g} Gyr"


@lru_cache(maxsize=32)
def isochrone_track(age_gyr: float, kind: str) -> pd.DataFrame:
    """The drawn part of one solar-metallicity isochrone in a view's axes (finite rows only)."""
    x, y = AXES[kind]
    iso = isochrone(float(age_gyr))
    iso = iso[iso["phase"].astype(str).isin(DRAWN_PHASES)]
    track = pd.DataFrame(
        {
            "x": iso[x].to_numpy(dtype=float),
            "y": iso[y].to_numpy(dtype=float),
            "main_sequence": iso["phase"].astype(str).to_numpy() == "ms",
        }
    )
    return track[np.isfinite(track["x"]) & np.isfinite(track["y"])].reset_index(drop=True)


@lru_cache(maxsize=4)
def sequences(kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(single-star main sequence, equal-mass binary sequence) in a view's axes."""
    if kind == "cmd":
        colour = np.linspace(*MS_COLOUR_RANGE_MAG, 200)
        abs_g = main_sequence_abs_g(colour)
        ok = np.isfinite(abs_g)
        single = pd.DataFrame({"x": colour[ok], "y": abs_g[ok]})
        binary = single.assign(y=single["y"] - EQUAL_MASS_OFFSET_MAG)
    elif kind == "hr":
        x, y = AXES[kind]
        iso = isochrone(MS_AGE_GYR)
        ms = iso[iso["phase"].astype(str) == "ms"]
        single = pd.DataFrame({"x": ms[x].to_numpy(dtype=float), "y": ms[y].to_numpy(dtype=float)})
        single = single[np.isfinite(single["x"]) & np.isfinite(single["y"])].reset_index(drop=True)
        binary = single.assign(y=single["y"] + EQUAL_MASS_OFFSET_DEX)
    else:
        raise ValueError(f"unknown overlay kind {kind!r}; expected one of {sorted(AXES)}")
    return single, binary


def _blue_end(track: pd.DataFrame, kind: str) -> tuple[float, float]:
    """Where a curve's label goes: its bluest (CMD) or hottest (HR) main-sequence point (the turn-off)."""
    if "main_sequence" in track.columns and track["main_sequence"].any():
        track = track[track["main_sequence"]]
    x = track["x"].to_numpy()
    i = int(np.argmin(x) if kind == "cmd" else np.argmax(x))
    return float(track["x"].iloc[i]), float(track["y"].iloc[i])


def _shifted(curve: pd.DataFrame, offset: tuple[float, float]) -> pd.DataFrame:
    dx, dy = offset
    return curve if dx == dy == 0 else curve.assign(x=curve["x"] + dx, y=curve["y"] + dy)


def overlay_layers(
    kind: str,
    ages_gyr: list[float],
    binary_sequence: bool,
    dims: tuple[str, str] | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
) -> hv.Overlay:
    """The overlay of one view: isochrone paths with age labels, and the two sequences if asked.

    ``dims`` names the view's (x, y) columns (default: ``AXES[kind]``), so the curves share the
    view's axes; ``offset`` (dx, dy) shifts every curve, e.g. by (E(BP−RP), A_G) to redden them
    onto an observed CMD. Always the same four layers (empty when off): a DynamicMap needs a fixed
    layer structure.
    """
    x, y = dims or AXES[kind]
    ages = sorted(float(a) for a in ages_gyr)
    tracks = [_shifted(isochrone_track(age, kind), offset) for age in ages]
    paths = hv.Path([{x: t["x"], y: t["y"]} for t in tracks if len(t)], kdims=[x, y])
    # Text labels at the turn-offs and the sequences' blue ends rather than legend entries: a
    # legend would list empty layers and widen the figure.
    ends = [(*_blue_end(t, kind), age_label(age)) for age, t in zip(ages, tracks, strict=True) if len(t)]
    empty = pd.DataFrame({"x": [], "y": []})
    single, binary = (_shifted(seq, offset) for seq in sequences(kind)) if binary_sequence else (empty, empty)
    if binary_sequence:
        ends += [
            (*_blue_end(seq, kind), name) for seq, name in ((single, "MS"), (binary, "twins")) if len(seq)
        ]
    labels = (
        hv.Labels(ends, kdims=[x, y], vdims=["label"])
        if ends
        else hv.Labels([], kdims=[x, y], vdims=["label"])
    )
    rename = {"x": x, "y": y}
    return (
        paths.opts(color=ISOCHRONE_COLOR, line_width=1.5, line_dash="dashed")
        * labels.opts(
            text_color=ISOCHRONE_COLOR, text_font_size="8pt", text_align="left", text_baseline="bottom"
        )
        * hv.Curve(single.rename(columns=rename), x, y).opts(color=SINGLE_COLOR, line_width=1.5)
        * hv.Curve(binary.rename(columns=rename), x, y).opts(
            color=BINARY_COLOR, line_width=2, line_dash="dotdash"
        )
    )


class OverlaySettings(param.Parameterized):
    """Which overlays a session shows; views redraw only the overlay layer when these change."""

    ages_gyr = param.ListSelector(default=[], objects=list(AGES_GYR), doc="Isochrone ages [Gyr].")
    binary_sequence = param.Boolean(default=False, doc="Show the equal-mass binary sequence.")
    contours = param.Boolean(default=False, doc="Density contours on every view (UMAP, CMD, HR).")

    def layer(
        self, kind: str, dims: tuple[str, str] | None = None, offset: tuple[float, float] = (0.0, 0.0)
    ) -> hv.DynamicMap:
        """The overlay ``DynamicMap`` of one view.

        ``kind`` is ``"cmd"`` or ``"hr"``, ``dims`` names its axes, ``offset`` shifts the curves.
        """
        if kind not in AXES:
            raise ValueError(f"unknown overlay kind {kind!r}; expected one of {sorted(AXES)}")
        stream = hv.streams.Params(self, ["ages_gyr", "binary_sequence"])
        return hv.DynamicMap(
            lambda ages_gyr, binary_sequence: overlay_layers(kind, ages_gyr, binary_sequence, dims, offset),
            streams=[stream],
        )

    def controls(self) -> pn.Column:
        """Sidebar widgets: a MultiChoice of isochrone ages and the binary-sequence checkbox."""
        ages = pn.widgets.MultiChoice.from_param(
            self.param.ages_gyr,
            label="Isochrones (age, Gyr; [Fe/H] = 0; unreddened)",
            css_classes=["overlay-ages"],
        )
        binary = pn.widgets.Checkbox.from_param(
            self.param.binary_sequence,
            label="Single-star MS and equal-mass binary sequence",
            css_classes=["overlay-binary"],
        )
        contours = pn.widgets.Checkbox.from_param(
            self.param.contours,
            label="Density contours (25, 50, 75, 90 % of stars)",
            css_classes=["overlay-contours"],
        )
        return pn.Column(
            "### Physics overlays (CMD, HR)", ages, binary, contours, sizing_mode="stretch_width"
        )

    def contour_layer(self, df: pd.DataFrame, dims: tuple[str, str]) -> hv.DynamicMap:
        """Density contours of ``df`` on ``dims`` while ``contours`` is on (nothing otherwise)."""
        from dashboard.contours import density_contours

        def draw(contours: bool) -> hv.Contours:
            if not contours:
                return hv.Contours([], kdims=list(dims))
            # The same for every session of this catalogue: computed once per process.
            return shared.shared(df, "contours", tuple(dims), lambda: density_contours(df, *dims))

        return hv.DynamicMap(draw, streams=[hv.streams.Params(self, ["contours"])])
