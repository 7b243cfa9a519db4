"""DESA: Dual Embedding model for Stellar Astrophysics (Kamai, Bronstein & Perets, arXiv 2507.10666).

The model knows tensors, not files. Shape letters used in comments throughout the package:

- ``B`` batch (stars), ``C`` light-curve channels, ``T`` light-curve samples,
- ``L`` spectral pixels, ``N`` tokens, ``D`` model width, ``E`` embedding dimension,
- ``P`` predicted properties.

Masks are boolean with **True = valid** everywhere.

The public entry points are :class:`desa_core.config.DesaConfig`, :class:`desa_core.model.DesaModel`
and :class:`desa_core.serving.DesaService`; they are imported lazily so that ``import desa_core``
stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["DesaConfig", "DesaModel", "DesaService", "__version__"]


def __getattr__(name: str) -> object:
    if name == "DesaConfig":
        from desa_core.config import DesaConfig

        return DesaConfig
    if name == "DesaModel":
        from desa_core.model import DesaModel

        return DesaModel
    if name == "DesaService":
        from desa_core.serving import DesaService

        return DesaService
    raise AttributeError(name)
