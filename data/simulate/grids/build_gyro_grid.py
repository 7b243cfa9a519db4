"""Build ``gyro_slow_sequence.npz``: the Bouma et al. (2023) slow sequence on a Teff × age grid.

Run once, offline, with ``gyrointerp`` installed (MIT licence; Bouma, Palumbo & Hillenbrand 2023,
ApJL 947, L3); the simulator then interpolates the shipped table and needs no gyrointerp at run time
(gyrointerp writes a cache folder in the home directory and takes ~20 ms per call)::

    python -m data.simulate.grids.build_gyro_grid

The grid covers the relation's validity range, 3800–6200 K and 0.08–4 Gyr.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("gyro_slow_sequence.npz")
TEFF_K = np.arange(3800.0, 6200.0 + 1, 50.0)
AGE_MYR = np.round(np.geomspace(80.0, 4000.0, 40), 3)


def build(out: Path = OUT) -> Path:
    """Evaluate ``gyrointerp.models.slow_sequence`` on the grid and save it."""
    from gyrointerp import __version__ as gyro_version
    from gyrointerp.models import slow_sequence

    prot = np.stack([np.asarray(slow_sequence(TEFF_K, float(age)), dtype=float) for age in AGE_MYR])
    np.savez_compressed(
        out,
        teff_k=TEFF_K,
        age_myr=AGE_MYR,
        prot_d=prot,
        source=np.array(f"gyrointerp {gyro_version} slow_sequence (Bouma et al. 2023), MIT licence"),
    )
    return out


if __name__ == "__main__":
    print(build())
