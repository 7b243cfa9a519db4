"""The survey as tensors for training: model inputs, labels and the star-level split.

Only the four observation arrays (light-curve channels and mask, spectrum flux and mask) are model
inputs. Labels come from the truth table of a simulated survey (or a label table of a real one)
and from Gaia photometry. They are never a model input: training-split labels supervise (the
pretraining NLL terms, whose gradients reach the encoders, and the property heads), validation
labels choose epochs and calibrate, and test-split labels change nothing
(tests/training/test_smoke.py checks both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from data.storage import SurveyStore

#: The model's observation inputs: the only arrays an encoder ever sees.
INPUT_ARRAYS = ("lc_channels", "lc_mask", "spec_flux", "spec_mask")

#: Where each property's label comes from: (table, column) candidates, the first with values wins
#: ("truth" = the label table of a simulated or labelled survey, "catalog" = Gaia-derived).
#: The CMD is dereddened, as the evaluation's CMD probes and the dashboard's CMD are: spectra are
#: continuum-normalised, so no input can know the dust; the label is the intrinsic colour and M_G
#: (a simulation's truth), else the catalogue's GSP-Phot-dereddened values (real surveys).
LABEL_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "teff_k": (("truth", "teff_k"),),
    "logg": (("truth", "logg"),),
    "feh": (("truth", "feh"),),
    "logl": (("truth", "logl"),),
    "abs_g_mag": (("truth", "abs_g_intrinsic_mag"), ("catalog", "abs_g0_mag")),
    "bp_rp_mag": (("truth", "bp_rp_intrinsic_mag"), ("catalog", "bp_rp0_mag")),
    "prot_d": (("truth", "prot_d"),),
    "age_gyr": (("truth", "age_gyr"),),
}


def label_values(name: str, tables: dict[str, pd.DataFrame | None]) -> tuple[np.ndarray | None, str | None]:
    """The label of property ``name`` from the first source in :data:`LABEL_SOURCES` with values.

    ``tables`` maps "truth" and "catalog" to row-aligned frames (or None). Returns the values and
    "table.column", or (None, None) when no source has any.
    """
    for table, column in LABEL_SOURCES.get(name, (("truth", name),)):
        frame = tables.get(table)
        if frame is not None and column in frame and frame[column].notna().any():
            return frame[column].to_numpy(dtype=np.float64), f"{table}.{column}"
    return None, None


#: The binary head's label, first one present in the truth: the physically detectable binary
#: (close, eclipsing or spectroscopic; ``data.simulate.binarity``), which is what the product shows
#: as ``binary_prob``, else every companion (older stores and label tables without it).
BINARY_LABELS = ("is_detectable_binary", "is_binary")


def binary_label_name(columns, *, prefix: str = "") -> str | None:
    """The first of :data:`BINARY_LABELS` among ``columns`` (with ``prefix``), without the prefix."""
    return next((name for name in BINARY_LABELS if f"{prefix}{name}" in columns), None)


@dataclass
class SurveyTensors:
    """Inputs (N, ...), labels (N, P) with NaN where unknown, binary labels (N,), split names."""

    lc: torch.Tensor
    lc_mask: torch.Tensor
    spec: torch.Tensor
    spec_mask: torch.Tensor
    labels: torch.Tensor
    label_names: tuple[str, ...]
    binary: torch.Tensor
    split: np.ndarray

    def rows(self, split: str) -> torch.Tensor:
        return torch.as_tensor(np.flatnonzero(self.split == split), device=self.lc.device)

    def to(self, device: str | torch.device) -> SurveyTensors:
        """The same survey with every tensor on ``device``."""
        if torch.device(device) == self.lc.device:
            return self
        move = {
            name: getattr(self, name).to(device)
            for name in ("lc", "lc_mask", "spec", "spec_mask", "labels", "binary")
        }
        return SurveyTensors(**move, label_names=self.label_names, split=self.split)

    def label(self, name: str) -> torch.Tensor:
        return self.labels[:, self.label_names.index(name)]


#: A rotation period is measurable when the light curve covers at least this many cycles.
MIN_PROT_CYCLES = 2.0


def measurable_prot(prot_d: np.ndarray, catalog: pd.DataFrame) -> np.ndarray:
    """Rotation periods with NaN where the model's light curve shows fewer than two cycles.

    A period longer than half the light curve on the model grid (``lc_used_d``, else the grid's
    span) cannot be measured from it; such stars are flagged (NaN label), not trained on as if
    their period were visible. The truth table keeps the period.
    """
    from data.preprocess import LC_SPAN_D

    used = np.full(len(catalog), LC_SPAN_D)
    if "lc_used_d" in catalog:
        used = catalog["lc_used_d"].to_numpy(np.float64)
        used = np.where(np.isfinite(used), used, LC_SPAN_D)
    prot = np.asarray(prot_d, dtype=np.float64)
    return np.where(prot <= used / MIN_PROT_CYCLES, prot, np.nan)


def label_table(store: SurveyStore, names: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels (N, P) as a DataFrame with NaN where unknown, and binary labels (NaN if unknown).

    The binary labels are the first of :data:`BINARY_LABELS` that the truth has.
    """
    catalog = store.read_catalog()
    truth = store.read_truth()
    n = len(catalog)
    out = pd.DataFrame(index=range(n))
    if truth is not None:
        truth = truth.set_index("row").reindex(range(n))
    for name in names:
        values, _ = label_values(name, {"truth": truth, "catalog": catalog})
        out[name] = values if values is not None else np.nan
    if "prot_d" in out:
        out["prot_d"] = measurable_prot(out["prot_d"].to_numpy(), catalog)
    binary_name = binary_label_name(truth.columns) if truth is not None else None
    binary = truth[binary_name].to_numpy(dtype=np.float64) if binary_name else np.full(n, np.nan)
    return out, binary


def load_survey_tensors(store: SurveyStore, label_names: tuple[str, ...]) -> SurveyTensors:
    """Read the store's arrays into memory as tensors (a few tens of MB for the demo survey)."""
    arrays = {name: np.asarray(store.read_array(name, mmap=False)) for name in INPUT_ARRAYS}
    labels, binary = label_table(store, label_names)
    split = store.read_catalog(columns=["row", "split"])["split"].astype(str).to_numpy()
    return SurveyTensors(
        lc=torch.from_numpy(arrays["lc_channels"]).float(),
        lc_mask=torch.from_numpy(arrays["lc_mask"]).bool(),
        spec=torch.from_numpy(arrays["spec_flux"]).float(),
        spec_mask=torch.from_numpy(arrays["spec_mask"]).bool(),
        labels=torch.from_numpy(labels.to_numpy(dtype=np.float32)),
        label_names=tuple(label_names),
        binary=torch.from_numpy(binary.astype(np.float32)),
        split=split,
    )
