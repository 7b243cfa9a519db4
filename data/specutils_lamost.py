"""A specutils loader for LAMOST LRS spectra: ``Spectrum.read(path, format="LAMOST-LRS")``.

specutils is not a dependency of DESA. Where it is installed, importing this module (or calling
:func:`register`) adds the ``LAMOST-LRS`` format to specutils' reader registry, with an identifier
that accepts LAMOST LRS files by content (``data.lamost.is_lamost_header``), so
``Spectrum.read(path)`` also finds it without ``format``. Both layouts (DR1–DR3 image, later
table) are read by ``data.lamost.read_lamost_spectrum``: wavelengths in vacuum Å, flux in LAMOST's
relative units (dimensionless here: LRS fluxes are not absolutely calibrated), inverse variance as
the uncertainty, and the mask True where a pixel is bad (specutils' convention; ours is the
opposite).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data.lamost import is_lamost_spectrum, read_lamost_spectrum

FORMAT = "LAMOST-LRS"


def _identify(origin: str, *args: Any, **kwargs: Any) -> bool:
    path = args[0] if args else None
    return isinstance(path, str | Path) and Path(path).is_file() and is_lamost_spectrum(Path(path))


def load(path: str | Path, **kwargs: Any) -> Any:
    """Read a LAMOST LRS file as a specutils ``Spectrum`` (``Spectrum1D`` before specutils 2)."""
    import astropy.units as u
    from astropy.nddata import InverseVariance

    try:
        from specutils import Spectrum
    except ImportError:  # specutils < 2
        from specutils import Spectrum1D as Spectrum

    path = Path(getattr(path, "name", path))  # specutils may hand over an open file
    rec = read_lamost_spectrum(path)
    return Spectrum(
        flux=rec.flux * u.dimensionless_unscaled,
        spectral_axis=rec.wavelength_aa * u.AA,
        uncertainty=InverseVariance(rec.ivar),
        mask=~rec.mask,
        meta={"obsid": rec.obsid, "helio_rv_kms": rec.helio_rv_kms, "snr_g": rec.snr_g, "path": str(path)},
    )


def register() -> bool:
    """Add ``LAMOST-LRS`` to specutils' readers; False (nothing done) without specutils."""
    try:
        from specutils.io.registers import data_loader
    except ImportError:
        return False
    try:
        data_loader(FORMAT, identifier=_identify, extensions=["fits", "fits.gz"], priority=10)(load)
    except Exception as exc:  # astropy's registry refuses a second registration of a format
        if "already" not in str(exc).lower():
            raise
    return True


register()
