"""Data for DESA: archive-format readers and writers, the simulated survey, ingest and storage.

Imports are light: every name below is loaded on first use (``data.SurveyStore``,
``data.simulate_survey``), so importing ``data`` or one of its modules (``data.schema``) does no
work and pulls in none of torch, MeanStars, astropy or the readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.errors import DataError
    from data.gaia import is_gaia_table, read_gaia_table, write_gaia_table
    from data.ingest import IngestSummary, ingest_survey
    from data.kepler import (
        LightCurveRecord,
        is_kepler_lightcurve,
        read_kepler_lightcurve,
        write_kepler_lightcurve,
    )
    from data.lamost import (
        SpectrumRecord,
        is_lamost_spectrum,
        read_lamost_spectrum,
        write_lamost_spectrum,
    )
    from data.registry import read
    from data.simulate.population import SurveyConfig
    from data.simulate.survey import SimulationSummary, simulate_survey
    from data.splits import assign_splits
    from data.storage import SurveyStore

#: Public name -> its module, imported on first use: ``import data.schema`` (which ``desa_core``
#: does) must not pull in astropy, pandas or the FITS readers.
_LAZY = {
    "DataError": "data.errors",
    "is_gaia_table": "data.gaia",
    "read_gaia_table": "data.gaia",
    "write_gaia_table": "data.gaia",
    "LightCurveRecord": "data.kepler",
    "is_kepler_lightcurve": "data.kepler",
    "read_kepler_lightcurve": "data.kepler",
    "write_kepler_lightcurve": "data.kepler",
    "SpectrumRecord": "data.lamost",
    "is_lamost_spectrum": "data.lamost",
    "read_lamost_spectrum": "data.lamost",
    "write_lamost_spectrum": "data.lamost",
    "read": "data.registry",
    "SurveyStore": "data.storage",
    "simulate_survey": "data.simulate.survey",
    "SimulationSummary": "data.simulate.survey",
    "SurveyConfig": "data.simulate.population",
    "ingest_survey": "data.ingest",
    "IngestSummary": "data.ingest",
    "assign_splits": "data.splits",
}

__all__ = [
    "DataError",
    "IngestSummary",
    "LightCurveRecord",
    "SimulationSummary",
    "SpectrumRecord",
    "SurveyConfig",
    "SurveyStore",
    "assign_splits",
    "ingest_survey",
    "is_gaia_table",
    "is_kepler_lightcurve",
    "is_lamost_spectrum",
    "read",
    "read_gaia_table",
    "read_kepler_lightcurve",
    "read_lamost_spectrum",
    "simulate_survey",
    "write_gaia_table",
    "write_kepler_lightcurve",
    "write_lamost_spectrum",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'data' has no attribute {name!r}")
