"""Ingest at scale: peak memory and stars/s of the streaming ``desa ingest`` at 10^5 (10^6) stars.

A survey of N stars is made on the fly from a few template stars (a simulated light curve and
LAMOST spectrum each, written in the archive layouts by our writers): every star's files are a
template's bytes with its identifiers changed in place (KEPLERID/OBJECT and OBSID are fixed-width
header cards), plus a Gaia table of N rows. The light curves are one 24.5-d segment with the four
columns ingest reads (TIME, PDCSAP_FLUX, PDCSAP_FLUX_ERR, SAP_QUALITY), about 38 KB a file, so
10^5 stars take about 12 GB of disk (written, ingested, deleted). Each ingest runs in a fresh
process; its peak RSS (``VmHWM``) and the largest worker's (``RUSAGE_CHILDREN``) are reported,
with stars/s over the whole call (scan, read, preprocess, write, commit).

The baseline, in the same run and at the smallest size only, is the ingest this streaming one
replaced (``data/ingest.py`` at commit :data:`LEGACY_COMMIT`, read with ``git show``): it kept every
star's arrays in memory and stacked them at the end. Without git the baseline is skipped.

Dask scaling (``--scaling 1 2``, at the smallest size): the same ingest with each count of
workers of the Dask engine (``data/engine.py``; 1 runs in-process on dask's synchronous executor,
N on a local cluster of N worker processes, whose start-up is inside the timing), stars/s and peak
RSS of the ingest process and of its largest worker. A benchmark: nothing is asserted.

    python -m benchmarks.bench_ingest --sizes 10000 100000 --scaling 1 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The last commit with the in-memory ingest (the baseline).
LEGACY_COMMIT = "349f5e6"
#: Goal of issue 17: ingest of 10^6 stars in 4 GiB or less.
GOAL_GIB_1E6 = 4.0
N_CADENCES = 1200
ROOT = Path(__file__).resolve().parents[1]


def _templates(folder: Path, n: int, seed: int) -> list[tuple[bytes, bytes]]:
    """``n`` (light-curve bytes, spectrum bytes) pairs, KEPLERID 1 and OBSID 1 as placeholders."""
    from data.kepler import write_kepler_lightcurve
    from data.lamost import lamost_grid, write_lamost_spectrum

    rng = np.random.default_rng(seed)
    out = []
    wave = lamost_grid()
    for i in range(n):
        t = 130.0 + 0.0204336 * np.arange(N_CADENCES)
        period = rng.uniform(1, 30)
        flux = 1e5 * (1 + rng.uniform(0.001, 0.02) * np.sin(2 * np.pi * t / period)) + rng.normal(
            0, 30, t.size
        )
        lc_path, spec_path = folder / f"lc{i}.fits", folder / f"spec{i}.fits"
        write_kepler_lightcurve(
            lc_path,
            time_bkjd=t,
            pdcsap_flux=flux,
            pdcsap_flux_err=np.full(t.size, 30.0),
            sap_flux=flux,
            sap_quality=np.zeros(t.size, np.int32),
            kic_id=1,
            quarter=2,
        )
        _keep_read_columns(lc_path)
        cont = 100 + 0.01 * (wave - 6000)
        lines = sum(-20 * np.exp(-0.5 * ((wave - c) / 3.0) ** 2) for c in (4862.7, 6564.6, 8544.4, 8664.5))
        write_lamost_spectrum(
            spec_path,
            wavelength_aa=wave,
            flux=cont + lines + rng.normal(0, 1, wave.size),
            ivar=np.ones(wave.size),
            andmask=np.zeros(wave.size),
            ormask=np.zeros(wave.size),
            header={"OBSID": 1, "RA": 290.0, "DEC": 44.0, "SNRG": 50.0, "HELIO_RV": 0.0},
            layout="table",
        )
        out.append((lc_path.read_bytes(), spec_path.read_bytes()))
    return out


def _keep_read_columns(path: Path) -> None:
    """Rewrite a light curve with only the LIGHTCURVE columns ingest reads (a smaller file)."""
    from astropy.io import fits

    from data import fitswrite

    with fits.open(path) as hdul:
        primary = [
            (k, v, "") for k, v in hdul[0].header.items() if k not in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND")
        ]
        table = hdul["LIGHTCURVE"]
        cols = [
            (name, table.columns[name].format, table.columns[name].unit or "", np.asarray(table.data[name]))
            for name in ("TIME", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "SAP_QUALITY")
        ]
        cards = [(k, v, "") for k, v in table.header.items() if k in ("BJDREFI", "BJDREFF", "TIMEDEL")]
    fitswrite.write_fits(
        path, [fitswrite.primary_hdu(primary), fitswrite.bintable_hdu(cols, "LIGHTCURVE", cards)]
    )


def _set_card(data: bytes, key: str, value: int | str) -> bytes:
    """Replace the value of header card ``key`` (fixed format) in the first header of ``data``."""
    prefix = f"{key:<8}= ".encode()
    end = data.find(b"END" + b" " * 77)
    for start in range(0, end, 80):
        if data[start : start + 10] == prefix:
            text = f"{value:>20d}" if isinstance(value, int) else f"'{value:<8}'"
            card = f"{key:<8}= {text}".ljust(80)[:80].encode()
            return data[:start] + card + data[start + 80 :]
    raise KeyError(key)


def make_survey(folder: Path, n_stars: int, *, n_templates: int = 16, seed: int = 0) -> dict[str, Any]:
    """Write ``n_stars`` stars (light curve, spectrum, Gaia row) into ``folder/raw``; return sizes."""
    start = time.perf_counter()
    raw = folder / "raw"
    (raw / "kepler").mkdir(parents=True)
    (raw / "lamost").mkdir()
    templates = _templates(folder, n_templates, seed)
    kic = 1_000_000 + np.arange(n_stars, dtype=np.int64)
    obsid = 500_000_000 + np.arange(n_stars, dtype=np.int64)
    size = 0
    for i in range(n_stars):
        lc, spec = templates[i % n_templates]
        lc = _set_card(_set_card(lc, "KEPLERID", int(kic[i])), "OBJECT", f"KIC {int(kic[i])}")
        spec = _set_card(spec, "OBSID", int(obsid[i]))
        sub = f"{i // 10_000:03d}"  # folders of 10,000 files, as an archive mirror keeps them
        lc_path = raw / "kepler" / sub / f"kplr{int(kic[i]):09d}-2009259160929_llc.fits"
        spec_path = raw / "lamost" / sub / f"spec-56000-KP{i // 250:05d}_sp01-{i % 250:03d}.fits"
        lc_path.parent.mkdir(exist_ok=True)
        spec_path.parent.mkdir(exist_ok=True)
        lc_path.write_bytes(lc)
        spec_path.write_bytes(spec)
        size += len(lc) + len(spec)
    rng = np.random.default_rng(seed)
    gaia = pd.DataFrame(
        {
            "source_id": 2_000_000_000_000_000_000 + np.arange(n_stars, dtype=np.int64),
            "ra": rng.uniform(280, 300, n_stars),
            "dec": rng.uniform(36, 52, n_stars),
            "parallax": rng.uniform(0.5, 5, n_stars),
            "parallax_error": np.full(n_stars, 0.02),
            "phot_g_mean_mag": rng.uniform(10, 16, n_stars),
            "phot_bp_mean_mag": rng.uniform(10, 16, n_stars),
            "phot_rp_mean_mag": rng.uniform(10, 16, n_stars),
            "bp_rp": rng.uniform(0.5, 2, n_stars),
            "ruwe": np.ones(n_stars),
            "kic_id": kic,
            "lamost_obsid": obsid,
        }
    )
    gaia.to_csv(raw / "gaia_source.csv", index=False)
    return {"bytes": size, "seconds": time.perf_counter() - start}


_CHILD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from benchmarks.common import rss_bytes
folder, which, workers = Path(sys.argv[1]), sys.argv[2], int(sys.argv[4])
if which == "legacy":
    import importlib.util
    spec = importlib.util.spec_from_file_location("legacy_ingest", folder / "legacy_ingest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["legacy_ingest"] = module
    spec.loader.exec_module(module)
    ingest_survey = module.ingest_survey
else:
    from data.ingest import ingest_survey
from data.storage import SurveyStore
start = time.perf_counter()
summary = ingest_survey(folder / "raw", SurveyStore(folder / which), progress=False, workers=workers)
seconds = time.perf_counter() - start
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"n_stars": summary.n_stars, "seconds": seconds, "peak_rss_bytes": rss_bytes()["peak_rss"],
                  "largest_worker_peak_rss_bytes": children}))
"""


def _measure(folder: Path, which: str, workers: int = 2) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), which, str(ROOT), str(workers)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{which} ingest failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["stars_per_s"] = out["n_stars"] / out["seconds"]
    out["peak_rss_gib"] = out["peak_rss_bytes"] / 2**30
    return out


def _legacy_source(folder: Path) -> Path | None:
    try:
        text = subprocess.run(
            ["git", "show", f"{LEGACY_COMMIT}:data/ingest.py"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = folder / "legacy_ingest.py"
    path.write_text(text)
    return path


def run(
    sizes: tuple[int, ...] = (10_000, 100_000),
    baseline: bool = True,
    workdir: Path | None = None,
    scaling: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Measure the streaming ingest at each size (the in-memory one and Dask scaling at the smallest)."""
    out: list[dict[str, Any]] = []
    for n in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"desa_bench_ingest_{n}_", dir=workdir))
        try:
            made = make_survey(folder, n)
            entry: dict[str, Any] = {"n_stars": n, "survey_bytes": made["bytes"], "make_s": made["seconds"]}
            entry["streaming"] = _measure(folder, "streaming")
            shutil.rmtree(folder / "streaming", ignore_errors=True)
            if baseline and n == min(sizes) and _legacy_source(folder) is not None:
                entry["in_memory"] = _measure(folder, "legacy")
            if n == min(sizes):
                entry["scaling"] = _scaling(folder, scaling)
            out.append(entry)
            s = entry["streaming"]
            print(
                f"ingest n={n:,}: {s['stars_per_s']:.0f} stars/s, peak RSS {s['peak_rss_gib']:.2f} GiB "
                f"(largest worker {s['largest_worker_peak_rss_bytes'] / 2**30:.2f} GiB)",
                flush=True,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, Any] = {"sizes": out, "goal_gib_1e6": GOAL_GIB_1E6}
    from data.ingest import CHUNK_STARS

    # Below two chunks the chunk in flight, not the star count, sets the peak: no projection.
    if len(out) >= 2 and out[-2]["n_stars"] >= 2 * CHUNK_STARS:
        a, b = out[-2], out[-1]
        slope = (b["streaming"]["peak_rss_bytes"] - a["streaming"]["peak_rss_bytes"]) / (
            b["n_stars"] - a["n_stars"]
        )
        projected = b["streaming"]["peak_rss_bytes"] + slope * (1_000_000 - b["n_stars"])
        result["projection_1e6"] = {
            "label": f"projected from {a['n_stars']:,} and {b['n_stars']:,} stars (linear in N)",
            "rss_bytes_per_star": slope,
            "peak_rss_gib": projected / 2**30,
            "hours": 1_000_000 / b["streaming"]["stars_per_s"] / 3600,
        }
    return result


def _scaling(folder: Path, workers: tuple[int, ...]) -> list[dict[str, Any]]:
    """The streaming ingest with each count of Dask workers (1: in-process, synchronous)."""
    out = []
    for n in workers:
        m = _measure(folder, f"workers{n}", workers=n)
        shutil.rmtree(folder / f"workers{n}", ignore_errors=True)
        out.append({"workers": n, **m})
        worker_gib = m["largest_worker_peak_rss_bytes"] / 2**30
        print(
            f"ingest with {n} Dask worker(s): {m['stars_per_s']:.0f} stars/s, peak RSS "
            f"{m['peak_rss_gib']:.2f} GiB (largest worker {worker_gib:.2f} GiB)",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--scaling", type=int, nargs="*", default=[], help="Dask worker counts to compare (e.g. 1 2)"
    )
    args = parser.parse_args(argv)
    print(
        json.dumps(run(tuple(args.sizes), not args.no_baseline, args.workdir, tuple(args.scaling)), indent=2)
    )


if __name__ == "__main__":
    main()
