"""DashboardState: the one shared selection of a session (plain ``param``, no server needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import param

from dashboard import subsets as named
from dashboard.selection import MODE_LABELS, Term, combine, expression_term, expression_text, term_mask
from dashboard.store import CMD_DEREDDENED, CMD_OBSERVED

DENSITY = "density"
#: The CMD's photometry: dereddened with each star's Gaia GSP-Phot A_G and E(BP−RP), or as observed.
DEREDDENED, OBSERVED = "dereddened", "observed"
#: (colour, magnitude) catalogue columns of the CMD per photometry (data/catalog.py).
CMD_AXES = {DEREDDENED: CMD_DEREDDENED, OBSERVED: CMD_OBSERVED}


def cmd_choices(catalog: pd.DataFrame | None) -> list[str]:
    """The CMD photometries to offer: dereddened first (the default) when its columns hold values."""
    if catalog is not None and all(
        c in catalog.columns and catalog[c].notna().any() for c in CMD_AXES[DEREDDENED]
    ):
        return [DEREDDENED, OBSERVED]
    return [OBSERVED]


class DashboardState(param.Parameterized):
    """The session: catalogue, selection and its expression, focused row, colour-by, CMD photometry.

    Views call ``select`` with a new mask and its term; every view watches ``mask``.
    """

    catalog = param.DataFrame(doc="The catalogue, loaded once per process; read-only.")
    mask = param.Array(default=None, doc="Boolean selection over catalogue rows; None = none.")
    terms = param.List(default=[], doc="The (mode, term) list that produced the mask.")
    mode = param.Selector(default="replace", objects=MODE_LABELS, doc="How a new selection combines.")
    focused_row = param.Integer(default=None, allow_None=True, doc="Row shown in the star card.")
    color_by = param.Selector(default=DENSITY, objects=[DENSITY], doc="Column colouring the views.")
    cmd_photometry = param.Selector(
        default=DEREDDENED,
        objects=[DEREDDENED, OBSERVED],
        doc="CMD axes: GSP-Phot-dereddened (BP−RP)0, M_G,0, or observed BP−RP, M_G.",
    )
    similar = param.Callable(
        default=None, doc="(rows, k) -> the k rows nearest in embedding space (dashboard/similar.py)."
    )
    subsets = param.List(
        default=[],
        item_type=named.Subset,
        doc="Named subsets (dashboard/subsets.py), each drawn in its colour.",
    )
    generation = param.String(
        default=None,
        allow_None=True,
        doc="The store generation the catalogue came from (data/generations.py); the session's "
        "arrays, embedding and provenance come from the same one. None: the current one.",
    )

    def __init__(self, *, color_options: dict[str, str] | None = None, **params: Any) -> None:
        color_by = params.pop("color_by", None)
        cmd_photometry = params.pop("cmd_photometry", None)
        super().__init__(**params)
        self._subset_masks: dict[str, np.ndarray] = {}  # expression -> mask, for this catalogue
        # Dereddened only where the catalogue has GSP-Phot values; otherwise observed alone.
        cmd = cmd_choices(self.catalog)
        self.param.cmd_photometry.objects = cmd
        self.cmd_photometry = cmd_photometry if cmd_photometry in cmd else cmd[0]
        if color_options:
            # Per-instance choices (param copies the parameter on first instance access).
            self.param.color_by.objects = color_options
        choices = (
            list(self.param.color_by.objects.values())
            if isinstance(self.param.color_by.objects, dict)
            else list(self.param.color_by.objects)
        )
        self.color_by = color_by if color_by in choices else choices[0]

    @property
    def cmd_columns(self) -> tuple[str, str]:
        """The (colour, magnitude) columns of the CMD in the chosen photometry."""
        return CMD_AXES[self.cmd_photometry]

    @property
    def n_rows(self) -> int:
        return 0 if self.catalog is None else len(self.catalog)

    @property
    def n_selected(self) -> int:
        return 0 if self.mask is None else int(np.count_nonzero(self.mask))

    @property
    def selected_count(self) -> str:
        """The count shown in the UI, e.g. ``Selected: 123 / 2500``."""
        return f"Selected: {self.n_selected} / {self.n_rows}"

    @property
    def expression(self) -> str:
        """Readable text of the current selection (``""`` when none)."""
        return expression_text(self.terms)

    def select(self, new_mask: np.ndarray, term: dict[str, Any], *, mode: str | None = None) -> None:
        """Combine ``new_mask`` with the current mask by ``mode`` (default ``self.mode``), record ``term``."""
        mode = self.mode if mode is None else mode
        new_mask = np.asarray(new_mask, dtype=bool)
        if new_mask.shape != (self.n_rows,):
            raise ValueError(f"mask of shape {new_mask.shape} for a catalogue of {self.n_rows} rows")
        mask = combine(self.mask, new_mask, mode)
        terms: list[Term] = list(self.terms)
        if mode == "replace" or not terms:
            # Adding to nothing is a fresh selection; intersecting or subtracting from nothing
            # leaves nothing, so no term describes it.
            terms = [("replace", term)] if mode in ("replace", "add") else []
        else:
            terms.append((mode, term))
        self.param.update(mask=mask, terms=terms)

    def apply_expression(self, text: str, *, mode: str | None = None) -> None:
        """Select what a typed expression (grammar: data/query.py) selects.

        Combined with the current selection like ``select`` (by ``mode``, default ``self.mode``);
        empty text clears. Raises ``data.query.ExpressionError`` naming the position
        and the fix; the selection is then unchanged.
        """
        if not text.strip():
            self.clear()
            return
        term = expression_term(text)
        self.select(term_mask(self.catalog, term, similar=self.similar), term, mode=mode)

    def clear(self) -> None:
        """Select nothing."""
        self.param.update(mask=None, terms=[])

    def selected_frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The selected rows (optionally only ``columns``); empty when nothing is selected."""
        df = self.catalog if columns is None else self.catalog[columns]
        if self.mask is None:
            return df.iloc[:0]
        return df[self.mask]

    # --- named subsets (dashboard/subsets.py) ----------------------------------------------------
    def subset_mask(self, name: str) -> np.ndarray:
        """The stars of subset ``name``, from its expression (cached per expression)."""
        expression = named.find(self.subsets, name).expression
        if expression not in self._subset_masks:
            if len(self._subset_masks) >= 4 * named.MAX_SUBSETS:
                self._subset_masks.clear()
            term = {"expr": expression}
            self._subset_masks[expression] = term_mask(self.catalog, term, similar=self.similar)
        return self._subset_masks[expression]

    def subset_count(self, name: str) -> int:
        """How many stars subset ``name`` holds."""
        return int(np.count_nonzero(self.subset_mask(name)))

    def subset_layers(self) -> list[tuple[np.ndarray, str]]:
        """``(mask, colour)`` of every subset, for the views' selected layers."""
        return [(self.subset_mask(s.name), named.colour_of(self.subsets, s.name)) for s in self.subsets]

    def add_subset(self, name: str, expression: str) -> named.Subset:
        """Keep ``expression`` as subset ``name`` (replacing one of that name); its mask is checked first.

        Raises ``SubsetError`` or ``data.query.ExpressionError``; the subsets are then unchanged.
        """
        updated = named.with_subset(self.subsets, name, expression)
        subset = named.find(updated, named.check_name(name))
        self._subset_masks.setdefault(
            subset.expression, term_mask(self.catalog, {"expr": subset.expression}, similar=self.similar)
        )
        self.subsets = updated
        return subset

    def save_selection(self, name: str) -> named.Subset:
        """Keep the live selection (its expression) as subset ``name``."""
        return self.add_subset(name, self.expression)

    def combine_subsets(self, a: str, b: str, operation: str, name: str | None = None) -> named.Subset:
        """A new subset ``a`` union / intersection / difference ``b``, with the joined expression."""
        first, second = named.find(self.subsets, a), named.find(self.subsets, b)
        expression = named.combined_expression(first, second, operation)
        return self.add_subset(name or named.combined_name(first, second, operation), expression)

    def remove_subset(self, name: str) -> None:
        """Forget subset ``name``."""
        self.subsets = named.without(self.subsets, name)

    def select_subset(self, name: str) -> None:
        """Make subset ``name`` the live selection (its expression replaces the selection)."""
        self.apply_expression(named.find(self.subsets, name).expression, mode="replace")
