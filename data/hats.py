"""The embedded catalogue as a HATS catalogue: HEALPix-partitioned Parquet that LSDB opens directly.

HATS (Hierarchical Adaptive Tiling Scheme) is how archives publish large catalogues for LSDB (Gaia
DR3, ZTF, Pan-STARRS, TESS); ``lsdb.read_hats(path)`` opens one, and ``crossmatch`` joins two by
position on Dask. :func:`write_hats` writes one generation of the store as such a catalogue: the
catalogue columns (Gaia astrometry and photometry with ``ra_deg``/``dec_deg``, the predictions
with their 68 % intervals, ``binary_prob``, the ``umap_x``/``umap_y`` layout) and the embedding as
a ``list<float32>`` column, written with LSDB's own writer (``lsdb.from_dataframe`` then
``write_catalog``) as a collection with a 5 arcsec margin cache, so cross-matches near partition
edges find their pairs. The local file paths (``*_path``) are left out. docs/hats.md shows a
cross-match.

The catalogue is written into a temporary folder beside the target and renamed into place, so a
reader sees the old catalogue or the new one, never half of one. ``lsdb.from_dataframe`` holds the
table in memory (LSDB's advice: up to ~10^6 rows); a larger survey goes through ``hats-import``.
lsdb is an optional dependency: ``pip install 'desa-explorer[hats]'``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from data import schema
from data.errors import DataError
from data.storage import SurveyStore

log = logging.getLogger(__name__)

#: The position columns of the catalogue (Gaia DR3 ICRS, epoch 2016.0), degrees.
RA, DEC = "ra_deg", "dec_deg"
#: Margin cache width (arcsec): LSDB's default; wider than any cross-match radius we document.
MARGIN_ARCSEC = 5.0
#: A catalogue name HATS accepts as a folder name.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def hats_frame(store: SurveyStore) -> pd.DataFrame:
    """The rows :func:`write_hats` writes: the catalogue without ``*_path``, and the embedding.

    Raises
    ------
    data.errors.DataError
        When the store has no catalogue, no positions or no embedding (run ``desa embed``).
    """
    frame = store.read_catalog()
    missing = [c for c in (RA, DEC) if c not in frame.columns]
    if missing:
        raise DataError(store.catalog_path, ",".join(missing), "no positions to partition the sky by")
    frame = frame[[c for c in frame.columns if not c.endswith("_path")]]
    if not store.has_array(schema.EMBEDDING.name):
        raise DataError(
            store.array_path(schema.EMBEDDING.name),
            schema.EMBEDDING.name,
            "not in the store; run `desa embed`",
        )
    vectors = np.asarray(store.read_array(schema.EMBEDDING.name), dtype=np.float32)
    if len(vectors) != len(frame):
        raise DataError(
            store.array_path(schema.EMBEDDING.name),
            schema.EMBEDDING.name,
            f"{len(vectors)} rows for {len(frame)} catalogue rows; re-run `desa embed`",
        )
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
    embedding = pa.ListArray.from_arrays(offsets, flat)
    return frame.assign(**{schema.EMBEDDING.name: pd.Series(embedding, dtype=pd.ArrowDtype(embedding.type))})


def _properties(store: SurveyStore) -> dict[str, str]:
    """Provenance for ``hats.properties``: what wrote the catalogue and from which model."""
    embed = store.read_manifest().get("embed", {})
    props = {
        "obs_title": f"DESA embedding of survey {store.root.name}",
        "hats_creator": "desa embed --format hats",
        "desa_store_generation": store.generation or "",
    }
    for key in ("run", "checkpoint_sha256", "dim", "date"):
        if embed.get(key) is not None:
            props[f"desa_{key}"] = str(embed[key])
    return props


def write_hats(
    store: SurveyStore, out: Path, *, name: str | None = None, progress: bool = False, **partitioning: Any
) -> Path:
    """Write the store's current generation as a HATS collection at ``out`` (replacing one there).

    Parameters
    ----------
    store
        The survey store; one generation is read (``snapshot``).
    out
        The collection folder to write (``lsdb.read_hats(out)`` opens it).
    name
        The catalogue's name (default: the folder name of ``out``).
    progress
        Show LSDB's progress bar.
    **partitioning
        Passed to ``lsdb.from_dataframe`` (``highest_order``, ``partition_rows``, ...).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ImportError
        Without lsdb (``pip install 'desa-explorer[hats]'``).
    """
    try:
        import lsdb
    except ImportError as exc:
        raise ImportError("writing HATS needs lsdb: pip install 'desa-explorer[hats]'") from exc
    out = Path(out)
    name = name or out.name
    if not _NAME.match(name):
        raise ValueError(f"catalogue name {name!r}: letters, digits, '_', '-', '.', at most 100")
    snapshot = store.snapshot()
    frame = hats_frame(snapshot)
    catalog = lsdb.from_dataframe(
        frame, ra_column=RA, dec_column=DEC, margin_threshold=MARGIN_ARCSEC, **partitioning
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".building", dir=out.parent))
    try:
        catalog.write_catalog(
            tmp / out.name,
            catalog_name=name,
            addl_hats_properties=_properties(snapshot),
            progress_bar=progress,
        )
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.rename(out, old / out.name)
        os.rename(tmp / out.name, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote the HATS catalogue %s (%d stars) to %s", name, len(frame), out)
    return out
