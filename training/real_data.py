"""The real-data check: real light curves through ingest and the shipped demo model, against catalogue Prot.

    python -m benchmarks.real_data_check --out docs/real-data

Collects the real light curves at hand (the MAST files vendored in ``tests/data``, and the
KEPSEISMIC series that ``star-privateer`` ships when it is installed: ``pip install 'desa[report]'``),
ingests them with no Gaia table (one-modality stars: light curve only), embeds them with the demo
weights shipped in the package (``desa embed --shipped``) and compares the predicted rotation
period with Santos et al. (2019, 2021) where that catalogue has the star (the CSV in
``star-privateer``). A Lomb–Scargle period of the same 90-day light curve the model sees is listed
beside it, so a reader can tell a model error from a light curve that does not show the period.

This is a check, not a target: the demo model was trained on a simulated survey with both
modalities, and a real star seen through its light curve alone is outside what it learnt.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data import schema
from data.ingest import ingest_survey
from data.registry import primary_header
from data.storage import SurveyStore, atomic_write_text

#: The vendored real MAST light curves (tests/data/README.md for their origin and licence).
VENDORED = Path(__file__).resolve().parents[1] / "tests" / "data"


def star_privateer_folder() -> Path | None:
    """The installed ``star_privateer`` package folder, found without importing it, or None."""
    spec = importlib.util.find_spec("star_privateer")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def santos_periods() -> pd.DataFrame | None:
    """KIC and Prot (d) of the Santos et al. 2019 + 2021 rotators shipped in star-privateer, or None."""
    folder = star_privateer_folder()
    path = folder / "catalogs" / "santos-19-21.csv" if folder else None
    if path is None or not path.is_file():
        return None
    table = pd.read_csv(path)
    return table.rename(columns={"target_id": "kic_id", "prot": "prot_santos_d"})[["kic_id", "prot_santos_d"]]


def collect(raw: Path) -> list[Path]:
    """Copy every real light curve at hand into ``raw`` (a nested folder); return the copies."""
    sources = sorted(p for p in VENDORED.iterdir() if p.name.endswith((".fits", ".fits.gz")))
    folder = star_privateer_folder()
    if folder is not None:
        sources += sorted((folder / "timeseries").glob("*.fits"))
    out = []
    for source in sources:
        dest = raw / source.parent.name / source.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, dest)
        out.append(dest)
    return out


def lomb_scargle_period(time_d: np.ndarray, flux: np.ndarray, mask: np.ndarray) -> float:
    """The period (d) of the highest Lomb–Scargle peak between 0.1 d and half the time span."""
    from astropy.timeseries import LombScargle

    t, y = time_d[mask], flux[mask]
    if t.size < 10:
        return float("nan")
    span = float(t.max() - t.min())
    frequency = np.linspace(2.0 / span, 10.0, 20_000)
    power = LombScargle(t, y).power(frequency)
    return float(1.0 / frequency[int(np.argmax(power))])


def run_check(out: Path, *, work: Path | None = None) -> dict[str, Any]:
    """Ingest, embed and compare; write ``out/real_data.json`` and ``out/real_data.md``."""
    from training.embed import embed_survey
    from training.shipped import check_weights

    if work is None:
        with tempfile.TemporaryDirectory(prefix="desa_real_") as tmp:
            return run_check(out, work=Path(tmp))
    store = SurveyStore(Path(work) / "real")
    files = collect(store.raw_dir)
    summary = ingest_survey(store.raw_dir, store, progress=False, workers=1)
    weights = check_weights("demo", grids=store.read_manifest().get("grids"))
    embed_survey(store, weights.path, progress=False)
    cat = store.read_catalog()
    lc, mask = store.read_array(schema.LC.name), store.read_array(schema.LC_MASK.name)
    time_d = (np.arange(schema.LC_LENGTH) + 0.5) * schema.LC_SPAN_D / schema.LC_LENGTH
    rows = []
    santos = santos_periods()
    known = dict(zip(santos["kic_id"], santos["prot_santos_d"], strict=True)) if santos is not None else {}
    for i, star in cat.iterrows():
        kic = int(star["kic_id"])
        first = store.root / star["kepler_path"].split(";")[0]
        header_teff = primary_header(first).get("TEFF")  # the input catalogue's, in the file header
        rows.append(
            {
                "star": f"{star[schema.MISSION]} {int(star[schema.TARGET_ID])}",
                "files": star["kepler_path"].count(";") + 1,
                "lc_span_d": float(star["lc_span_d"]),
                "lc_used_d": float(star["lc_used_d"]),
                "prot_santos_d": known.get(kic) if kic != schema.NO_ID else None,
                "prot_lomb_scargle_d": lomb_scargle_period(time_d, np.asarray(lc[i, 0]), np.asarray(mask[i])),
                "pred_prot_d": float(star["pred_prot_d"]),
                "pred_prot_lo_d": float(star["pred_prot_d_lo"]),
                "pred_prot_hi_d": float(star["pred_prot_d_hi"]),
                "pred_teff_k": float(star["pred_teff_k"]),
                "teff_header_k": float(header_teff) if isinstance(header_teff, int | float) else None,
            }
        )
    table = pd.DataFrame(rows)
    scored = table[table["prot_santos_d"].notna()]
    ratio = scored["pred_prot_d"] / scored["prot_santos_d"]
    result = {
        "n_files": len(files),
        "n_stars": summary.n_stars,
        "n_quarantined": summary.n_quarantined,
        "weights": {"path": str(weights.path), "commit": weights.sidecar.get("git_commit")},
        "santos_installed": santos is not None,
        "stars": rows,
        "n_with_santos_prot": len(scored),
        "median_abs_log10_ratio": float(np.median(np.abs(np.log10(ratio)))) if len(scored) else None,
        "within_68pc_interval": int(
            (
                (scored["pred_prot_lo_d"] <= scored["prot_santos_d"])
                & (scored["prot_santos_d"] <= scored["pred_prot_hi_d"])
            ).sum()
        ),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "real_data.json", json.dumps(result, indent=2))
    atomic_write_text(out / "real_data.md", render(result))
    return result


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def render(result: dict[str, Any]) -> str:
    """The check's table as markdown."""
    lines = [
        "| star | files | light curve span (d) | on the model grid (d) | Prot, Santos et al. (d) "
        "| Lomb–Scargle, model grid (d) | predicted Prot (d) [68 %] | predicted Teff (K) "
        "| Teff in the file header (K) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["stars"]:
        lines.append(
            f"| {r['star']} | {r['files']} | {_f(r['lc_span_d'], 0)} | {_f(r['lc_used_d'], 0)} | "
            f"{_f(r['prot_santos_d'])} | {_f(r['prot_lomb_scargle_d'])} | {_f(r['pred_prot_d'])} "
            f"[{_f(r['pred_prot_lo_d'])}, {_f(r['pred_prot_hi_d'])}] | {_f(r['pred_teff_k'], 0)} | "
            f"{_f(r['teff_header_k'], 0)} |"
        )
    return "\n".join(lines) + "\n"
