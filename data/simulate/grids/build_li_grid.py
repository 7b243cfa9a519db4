"""Build ``li6708_ew.npz``: Li I 6708 equivalent widths from breidablik's 3D-NLTE profiles.

breidablik (MIT licence; Wang et al. 2021, MNRAS 500, 2159) interpolates 3D non-LTE Li I 670.8 nm
line profiles in (Teff, logg, [Fe/H], A(Li)); a call takes ~50 ms, too slow for the simulator, so
this script evaluates the profiles once on a rectangular grid and integrates the equivalent width
over 670.96 ± 0.1 nm (vacuum). Cells outside breidablik's own model grid (the same distance test
as its ``_grid_check`` warning) take the value of the nearest covered Teff at the same logg,
[Fe/H] and A(Li); ``covered`` records which cells are breidablik's own. Run once, offline::

    python -m data.simulate.grids.build_li_grid
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("li6708_ew.npz")
TEFF_K = np.arange(4000.0, 7000.0 + 1, 250.0)
LOGG = np.array([2.0, 2.5, 3.0, 3.5, 4.0, 4.5])
FEH = np.array([-1.0, -0.5, 0.0, 0.5])
A_LI = np.arange(-0.5, 4.0 + 1e-9, 0.25)
LINE_NM = 670.9659
HALF_WIDTH_NM = 0.1


def _covered(teff: float, logg: float, feh: float) -> bool:
    import breidablik

    path = Path(breidablik.__file__).parent / "grid_snapshot.txt"
    with open(path) as f:
        t_step, m_step = (float(x) for x in f.readline().split())
        grid = np.loadtxt(f)
    grid[:, 0] = np.round(grid[:, 0] * 2) / 2
    point = np.array([teff * t_step, logg, feh * m_step])
    return bool(np.sqrt(((grid - point) ** 2).sum(axis=1)).min() <= np.sqrt(3 * 0.25**2))


def build(out: Path = OUT) -> Path:
    """Evaluate the EW grid (mÅ) and save it with its axes and coverage mask."""
    from breidablik.analysis.read import get_wavelengths
    from breidablik.interpolate.spectra import Spectra

    spectra = Spectra()
    wl = np.asarray(get_wavelengths(), dtype=float)  # vacuum nm
    window = np.abs(wl - LINE_NM) <= HALF_WIDTH_NM
    ew = np.zeros((TEFF_K.size, LOGG.size, FEH.size, A_LI.size))
    covered = np.zeros(ew.shape[:3], dtype=bool)
    for i, teff in enumerate(TEFF_K):
        for j, logg in enumerate(LOGG):
            for k, feh in enumerate(FEH):
                covered[i, j, k] = _covered(teff, logg, feh)
                if not covered[i, j, k]:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for m, a_li in enumerate(A_LI):
                        flux = np.asarray(spectra.predict_flux(teff, logg, feh, a_li), dtype=float)
                        depth = 1.0 - flux[window]
                        ew[i, j, k, m] = np.trapezoid(depth, wl[window]) * 1e4  # nm → mÅ
    for j in range(LOGG.size):
        for k in range(FEH.size):
            have = np.flatnonzero(covered[:, j, k])
            if have.size == 0:  # no model at this (logg, [Fe/H]): borrow the nearest logg
                continue
            for i in np.flatnonzero(~covered[:, j, k]):
                ew[i, j, k] = ew[have[np.abs(have - i).argmin()], j, k]
    for j in range(LOGG.size):
        for k in range(FEH.size):
            if not covered[:, j, k].any():
                donors = [jj for jj in np.argsort(np.abs(LOGG - LOGG[j])) if covered[:, jj, k].any()]
                ew[:, j, k] = ew[:, donors[0], k]
    np.savez_compressed(
        out,
        teff_k=TEFF_K,
        logg=LOGG,
        feh=FEH,
        a_li=A_LI,
        ew_ma=ew,
        covered=covered,
        source=np.array("breidablik 3D-NLTE Li I 6708 profiles (Wang et al. 2021), MIT licence"),
    )
    return out


if __name__ == "__main__":
    print(build())
