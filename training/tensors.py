"""The survey as tensors for training: model inputs, labels and the star-level split.

Only the four observation arrays (light-curve channels and mask, spectrum flux and mask) are model
inputs. Labels come from the truth table of a simulated survey (or a label table of a real one)
and from Gaia photometry. They are never a model input: training-split labels supervise (the
pretraining NLL terms, whose gradients reach the encoders, and the property heads), validation
labels choose epochs and calibrate, and test-split labels change nothing
(tests/training/test_smoke.py checks both).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from data import schema
from data.storage import SurveyStore

#: The model's observation inputs: the only arrays an encoder ever sees (``data.schema``).
INPUT_ARRAYS = tuple(array.name for array in schema.INPUT_ARRAYS)


def label_values(name: str, tables: dict[str, pd.DataFrame | None]) -> tuple[np.ndarray | None, str | None]:
    """The label of property ``name`` from its first source with values (``data.schema.Property.sources``).

    ``tables`` maps "truth" (the label table of a simulated or labelled survey) and "catalog"
    (Gaia-derived) to row-aligned frames (or None). Returns the values and "table.column", or
    (None, None) when no source has any. A name outside the schema is looked up in the truth.
    """
    prop = schema.PROPERTY.get(name)
    for table, column in prop.sources if prop else (("truth", name),):
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
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        moved = {name: v.to(device) for name, v in values.items() if isinstance(v, torch.Tensor)}
        return dataclasses.replace(self, **moved)

    def label(self, name: str) -> torch.Tensor:
        return self.labels[:, self.label_names.index(name)]


def measurable(name: str, values: np.ndarray, catalog: pd.DataFrame) -> np.ndarray:
    """Property ``name``'s labels, NaN where the model's light curve cannot show them.

    A property with ``min_lc_cycles`` (``data.schema``; the rotation period: 2) is measurable when
    the light curve on the model grid (``lc_used_d``, else the grid's span) covers that many
    cycles; such stars are flagged (NaN label), not trained on as if their period were visible.
    The truth table keeps the value. Other properties come back unchanged.
    """
    prop = schema.PROPERTY.get(name)
    values = np.asarray(values, dtype=np.float64)
    if prop is None or prop.min_lc_cycles is None:
        return values
    used = np.full(len(catalog), schema.LC_SPAN_D)
    if "lc_used_d" in catalog:
        used = catalog["lc_used_d"].to_numpy(np.float64)
        used = np.where(np.isfinite(used), used, schema.LC_SPAN_D)
    return np.where(values <= used / prop.min_lc_cycles, values, np.nan)


def label_table(store: SurveyStore, names: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """Labels (N, P) as a DataFrame with NaN where unknown, and binary labels (NaN if unknown).

    The binary labels are the first of :data:`BINARY_LABELS` that the truth has.
    """
    catalog = store.read_catalog()
    truth = store.read_truth()
    n = len(catalog)
    out = pd.DataFrame(index=range(n))
    if truth is not None:
        truth = truth.set_index(schema.ROW).reindex(range(n))
    for name in names:
        values, _ = label_values(name, {"truth": truth, "catalog": catalog})
        out[name] = measurable(name, values, catalog) if values is not None else np.nan
    binary_name = binary_label_name(truth.columns) if truth is not None else None
    binary = truth[binary_name].to_numpy(dtype=np.float64) if binary_name else np.full(n, np.nan)
    return out, binary


def both_modalities(catalog: pd.DataFrame) -> np.ndarray:
    """(N,) True where a star has a light curve and a spectrum (every star of older catalogues)."""
    both = np.ones(len(catalog), dtype=bool)
    for flag in schema.MODALITY_FLAGS:
        if flag in catalog:
            both &= catalog[flag].to_numpy(dtype=bool)
    return both


def training_splits(catalog: pd.DataFrame) -> np.ndarray:
    """The split of each star for training and evaluation; "" for a star with one modality.

    A one-modality star is embedded (through the missing-modality path) but never trained on,
    validated on or scored in the test split: its absent half would be read as data.
    """
    split = catalog["split"].astype(str).to_numpy().copy()
    split[~both_modalities(catalog)] = ""
    return split


def load_survey_tensors(store: SurveyStore, label_names: tuple[str, ...]) -> SurveyTensors:
    """Read the store's arrays into memory as tensors (a few tens of MB for the demo survey)."""
    lc, lc_mask, spec, spec_mask = (
        torch.from_numpy(np.asarray(store.read_array(array.name, mmap=False)))
        for array in schema.INPUT_ARRAYS
    )
    labels, binary = label_table(store, label_names)
    split = training_splits(store.read_catalog())
    return SurveyTensors(
        lc=lc.float(),
        lc_mask=lc_mask.bool(),
        spec=spec.float(),
        spec_mask=spec_mask.bool(),
        labels=torch.from_numpy(labels.to_numpy(dtype=np.float32)),
        label_names=tuple(label_names),
        binary=torch.from_numpy(binary.astype(np.float32)),
        split=split,
    )
