"""The survey schema: what every package agrees on about a survey, written once.

Every package reads it (STYLE.md section 2): ``desa_core`` its property names and input grids,
``training`` the labels, ``data`` the catalogue columns and arrays, the dashboard the units,
labels and colours. It imports only the standard library, so the model still knows no files and
``import data.schema`` does no work. It holds

- :data:`PROPERTIES`: what the heads predict, in head order. ``name`` is the stem of the
  catalogue's ``pred_<name>``, ``pred_<name>_lo`` and ``pred_<name>_hi`` columns (``data.catalog``);
  ``sources`` says where its label comes from, ``log10`` whether the heads model it in log10;
- the model input grids (``LC_*``, ``SPEC_*``): the store's manifest records them
  (``data.preprocess.grid_description``) and :func:`grid_mismatch` compares them with the input
  lengths a model was built for (``desa_core.config.DesaConfig.input_grid``) when it is loaded;
- :data:`ARRAYS`: the store's per-star arrays, first axis = catalogue ``row``;
- :data:`POPULATIONS`: the simulated populations with one colour each;
- :data:`TRUTH_PREFIX` and :func:`join_truth`: the catalogue with the truth table beside it.

Adding a predicted property is one :class:`Property` line here plus its label in the truth (the
simulator's truth table or a real survey's label table): the heads, the catalogue columns, the
labels, the evaluation and the dashboard follow. A checkpoint keeps the property list it was
trained with (``HeadsConfig.properties``), so older models load and predict as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # only for annotations: this module imports no third-party package
    import pandas as pd

#: A label's table: "truth" = the label table of a simulated or labelled survey, "catalog" = ours.
LabelTable = Literal["truth", "catalog"]


# --- predicted properties -----------------------------------------------------------------------
@dataclass(frozen=True)
class Property:
    """One property the heads predict.

    Parameters
    ----------
    name
        Column stem with its unit (STYLE.md section 4): ``pred_<name>`` in the catalogue, and the
        label's name.
    unit, ucd, description
        For exports (VOTable/FITS) and the dashboard.
    label
        Axis label of figures.
    log10
        Positive and multiplicative: the heads model log10 of it, so intervals stay positive.
    sources
        Where the label comes from: ``(table, column)`` candidates, the first with values wins.
    pretrain
        The encoder whose pretraining this label supervises (DESA, arXiv 2507.10666), if any.
    min_lc_cycles
        A label a light curve shows only over this many cycles of it (``training.tensors``).
    """

    name: str
    unit: str
    ucd: str
    description: str
    label: str
    log10: bool = False
    sources: tuple[tuple[LabelTable, str], ...] = ()
    pretrain: Literal["spectrum", "lightcurve"] | None = None
    min_lc_cycles: float | None = None

    def __post_init__(self) -> None:
        if not self.sources:  # the truth column of the same name
            object.__setattr__(self, "sources", (("truth", self.name),))

    @property
    def truth_column(self) -> str | None:
        """The truth table's column of this label (its first "truth" source), or None."""
        return next((column for table, column in self.sources if table == "truth"), None)


#: Property names the code refers to one by one (the CMD, the HR diagram, Prot and age figures).
TEFF_K, LOGG, FEH, LOGL = "teff_k", "logg", "feh", "logl"
ABS_G_MAG, BP_RP_MAG, PROT_D, AGE_GYR = "abs_g_mag", "bp_rp_mag", "prot_d", "age_gyr"

#: The properties the heads predict, in order (SCIENCE.md 1.8). The CMD labels are dereddened, as
#: the evaluation's CMD probes and the dashboard's CMD are: spectra are continuum-normalised, so no
#: input knows the dust; the label is the intrinsic colour and M_G (a simulation's truth), else the
#: catalogue's GSP-Phot-dereddened values (real surveys). A rotation period is a label only where
#: the light curve on the model grid shows two cycles of it (SCIENCE.md 6.1; our choice).
PROPERTIES: tuple[Property, ...] = (
    Property(
        TEFF_K, "K", "phys.temperature.effective", "effective temperature", "Teff (K)", pretrain="spectrum"
    ),
    Property(LOGG, "dex", "phys.gravity", "surface gravity log10(g / cm s^-2)", "log g", pretrain="spectrum"),
    Property(FEH, "dex", "phys.abund.Fe", "metallicity [Fe/H]", "[Fe/H]", pretrain="spectrum"),
    Property(LOGL, "dex", "phys.luminosity", "luminosity log10(L / Lsun)", "log L/L☉"),
    Property(
        ABS_G_MAG,
        "mag",
        "phys.magAbs",
        "dereddened absolute G magnitude M_G,0",
        "M_G,0 (mag)",
        sources=(("truth", "abs_g_intrinsic_mag"), ("catalog", "abs_g0_mag")),
    ),
    Property(
        BP_RP_MAG,
        "mag",
        "phot.color",
        "dereddened BP-RP colour (BP-RP)0",
        "(BP-RP)0 (mag)",
        sources=(("truth", "bp_rp_intrinsic_mag"), ("catalog", "bp_rp0_mag")),
    ),
    Property(
        PROT_D,
        "d",
        "time.period.rotation",
        "rotation period",
        "Prot (d)",
        log10=True,
        pretrain="lightcurve",
        min_lc_cycles=2.0,
    ),
    Property(AGE_GYR, "Gyr", "time.age", "age", "age (Gyr)", log10=True),
)
PROPERTY_NAMES: tuple[str, ...] = tuple(p.name for p in PROPERTIES)
PROPERTY: dict[str, Property] = {p.name: p for p in PROPERTIES}
#: The (colour, magnitude) and (Teff, log L) properties of the CMD and the HR diagram.
CMD_PROPERTIES = (BP_RP_MAG, ABS_G_MAG)
HR_PROPERTIES = (TEFF_K, LOGL)


def pretraining_labels(encoder: Literal["spectrum", "lightcurve"]) -> tuple[str, ...]:
    """The labels supervising ``encoder``'s pretraining, in property order."""
    return tuple(p.name for p in PROPERTIES if p.pretrain == encoder)


# --- model input grids --------------------------------------------------------------------------
#: Light-curve grid: LC_LENGTH bins of LC_SPAN_D / LC_LENGTH days (2.11 h, ~4.3 long cadences).
LC_LENGTH = 1024
LC_SPAN_D = 90.0
#: The light-curve channels, in array order (``data.preprocess``).
LC_CHANNELS = ("relative_flux_pct", "acf", "log_power")

#: Spectrum grid: LAMOST LRS sampling (SCIENCE.md 3.9.1), log10 λ = SPEC_LOG10_START + SPEC_LOG10_STEP·i
#: for i = 0..SPEC_LENGTH−1 (rest frame, vacuum): 10⁻⁴ dex ≈ 69 km/s per pixel, ≈ 2.4 pixels per
#: R ≈ 1800 resolution element. The grid is pixels 34..3873 of the native LAMOST grid
#: (``data.lamost``: log10 λ = 3.5682 + 10⁻⁴ i, i = 0..3908), so at zero RV a pixel is copied, not
#: interpolated, and the 34/35 native pixels left at each end (≈ 2,300 km/s, minus the 3 masked edge
#: pixels) keep the rest grid inside the observed range for any stellar RV. 3,840 = 60 × 64 pixels:
#: divisible by every power of two up to 256, so the encoders' strides and patches tile it exactly.
SPEC_LENGTH = 3840
SPEC_LOG10_STEP = 1e-4
SPEC_LOG10_START = 3.5716  # = 3.5682 + 34 × 10⁻⁴
SPEC_MIN_AA = float(10.0**SPEC_LOG10_START)  # 3729.0 Å
SPEC_MAX_AA = float(10.0 ** (SPEC_LOG10_START + SPEC_LOG10_STEP * (SPEC_LENGTH - 1)))  # 9026.1 Å


# --- spectral lines measured on the spectrum grid ----------------------------------------------
# The two line indices of the synchronized-binary versus young-star case (SCIENCE.md 3.9): the
# observer's recipes (``data.spectral_indices``) and the model's measured-index features
# (``desa_core.line_indices``) read these, so both measure the same lines.
C_KMS = 299792.458
#: Li I 6708 (vacuum Å) and the LAMOST LRS resolving power its matched filter assumes.
LI_VAC_AA = 6709.66
LRS_RESOLUTION = 1800.0
#: Line-free pseudo-continuum windows around Li 6708 (vacuum Å, rest frame).
LI_CONTINUUM_AA = ((6686.0, 6702.0), (6716.0, 6736.0))
#: Strong, isolated lines of FGK stars (vacuum Å) for the cross-correlation mask.
CCF_MASK_AA = (
    4227.9,
    4384.7,
    4405.9,
    5168.8,
    5174.1,
    5185.0,
    5271.0,
    5329.5,
    5372.9,
    5398.6,
    5891.6,
    5897.6,
    6496.8,
    8500.4,
    8544.4,
    8664.5,
)


def grid_mismatch(model: Mapping[str, object], grids: Mapping[str, object]) -> str | None:
    """Why arrays on the store's ``grids`` cannot go into a model built for ``model``, or None.

    ``model`` is ``desa_core.config.DesaConfig.input_grid``; ``grids`` is a store's manifest record
    (``data.preprocess.grid_description``), which lists ``lc_channels`` by name where a model
    knows their number. Keys either lacks are not compared (older manifests record fewer).
    """
    differs = []
    for key, value in model.items():
        if key not in grids:
            continue
        stored = grids[key]
        number = len(stored) if isinstance(stored, list | tuple) else stored
        if not math.isclose(float(number), float(value), rel_tol=1e-9, abs_tol=0.0):
            differs.append(f"{key} {number} (model: {value})")
    if not differs:
        return None
    return (
        "the store's arrays are not on the grids this model was built for: "
        + ", ".join(differs)
        + "; re-run `desa ingest` with this code, or use a model trained on that grid"
    )


# --- the store's arrays -------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreArray:
    """A per-star array of the store (``arrays/<name>.npy``); ``axes`` after ``row`` name grid keys."""

    name: str
    axes: tuple[str, ...]
    dtype: str
    description: str


LC = StoreArray("lc_channels", ("row", "lc_channels", "lc_length"), "float32", "light-curve channels")
LC_MASK = StoreArray("lc_mask", ("row", "lc_length"), "bool", "light-curve bins with data")
SPEC = StoreArray("spec_flux", ("row", "spec_length"), "float32", "continuum-normalised rest-frame flux")
SPEC_MASK = StoreArray("spec_mask", ("row", "spec_length"), "bool", "spectrum pixels with data")
EMBEDDING = StoreArray("embedding", ("row", "embedding_dim"), "float32", "DESA embedding (desa embed)")
#: The model's observation inputs, in ``DesaModel``'s argument order: all an encoder ever sees.
INPUT_ARRAYS: tuple[StoreArray, ...] = (LC, LC_MASK, SPEC, SPEC_MASK)
ARRAYS: dict[str, StoreArray] = {a.name: a for a in (*INPUT_ARRAYS, EMBEDDING)}


# --- populations --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Population:
    """A simulated population (``data.simulate.population``) and its colour in every figure."""

    name: str
    colour: str
    description: str


#: Okabe & Ito (2008) colours, safe for every colour-vision deficiency, without their reddish
#: purple, which is too close to the dashboard's selection magenta (dashboard/selected_layer.py).
#: Field singles are grey so the rarer populations stand out (our choice).
POPULATIONS: tuple[Population, ...] = (
    Population("single", "#999999", "field single stars"),
    Population("young", "#0072B2", "young (< 300 Myr) single stars"),
    Population("sync_binary", "#D55E00", "tidally synchronized close binaries"),
    Population("wide_binary", "#E69F00", "wide binaries"),
    Population("giant", "#56B4E9", "red giants"),
    Population("subgiant", "#009E73", "subgiants"),
)
POPULATION_NAMES: tuple[str, ...] = tuple(p.name for p in POPULATIONS)
POPULATION_COLOURS: dict[str, str] = {p.name: p.colour for p in POPULATIONS}
SINGLE, YOUNG, SYNC_BINARY, WIDE_BINARY, GIANT, SUBGIANT = POPULATION_NAMES
#: The headline pair (SCIENCE.md 3.9): alike in the light curve, apart in the spectrum.
CASE_PAIR = (SYNC_BINARY, YOUNG)


# --- observations and star keys -----------------------------------------------------------------
#: Catalogue flags of the observations a star has. A star with one of them is embedded from that
#: modality alone (its other arrays are fill values under an all-False mask: the model's
#: missing-modality path, ``desa_core.serving``), and is neither trained on nor in the evaluation's
#: splits (``training.tensors``).
HAS_LIGHTCURVE = "has_lightcurve"
HAS_SPECTRUM = "has_spectrum"
MODALITY_FLAGS = (HAS_LIGHTCURVE, HAS_SPECTRUM)
#: A light curve's star key: its mission and the target's int64 identifier within that mission
#: (KIC, EPIC, TIC); a KIC and a TIC of the same number are two stars.
MISSION = "mission"
TARGET_ID = "target_id"
KEPLER, K2, TESS = "Kepler", "K2", "TESS"
MISSIONS = (KEPLER, K2, TESS)
#: The catalogue's value of an identifier a star does not have (no light curve, no spectrum, no Gaia row).
NO_ID = -1


# --- catalogue + truth --------------------------------------------------------------------------
#: The catalogue's key column, shared by the truth table and the arrays' first axis.
ROW = "row"
#: Truth (or label-table) columns beside the catalogue's are named ``true_<column>``.
TRUTH_PREFIX = "true_"
#: The truth table's population column (``true_population`` beside the catalogue).
POPULATION = "population"


def join_truth(catalog: pd.DataFrame, truth: pd.DataFrame | None) -> pd.DataFrame:
    """The catalogue with every truth column beside it as ``true_<column>``, one row per star.

    A left join on ``row``: a catalogue star without truth keeps its row with NaN truth; a truth
    row twice raises (pandas ``MergeError``). ``truth`` None (a real survey) returns ``catalog``.
    """
    if truth is None:
        return catalog
    prefixed = truth.rename(columns={c: f"{TRUTH_PREFIX}{c}" for c in truth.columns if c != ROW})
    prefixed[ROW] = prefixed[ROW].astype(catalog[ROW].dtype)
    return catalog.merge(prefixed, on=ROW, how="left", validate="one_to_one")


def truth_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``true_`` columns of a :func:`join_truth` frame, without the prefix."""
    truth = frame[[c for c in frame.columns if c.startswith(TRUTH_PREFIX)]]
    return truth.rename(columns=lambda c: c.removeprefix(TRUTH_PREFIX))
