"""Embed the catalogue with a trained model: vectors, predictions with intervals and a 2-D layout.

Writes the ``embedding`` array and adds ``pred_*``, ``binary_prob``, ``missing_modality``,
``umap_x`` and ``umap_y`` to the catalogue, and records the checkpoint hash and the layout
parameters in the manifest, so the dashboard and exports can name the model behind a figure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data import schema
from data.provenance import file_sha256
from data.storage import SurveyStore
from desa_core.projection import Projector
from desa_core.serving import DesaService

log = logging.getLogger(__name__)


@dataclass
class EmbedSummary:
    """Stars embedded, embedding width, layout mode and wall time."""

    n_stars: int
    dim: int
    layout: dict
    checkpoint_sha256: str
    seconds: float


def embed_survey(
    store: SurveyStore,
    checkpoint: Path,
    *,
    max_fit: int = 100_000,
    random_state: int = 42,
    progress: bool = True,
) -> EmbedSummary:
    """Embed every catalogue star with ``checkpoint`` and write the results into ``store``."""
    start = time.perf_counter()
    # One new generation: the embedding, the catalogue's new columns and the manifest become
    # visible together (data/generations.py); until then readers see the previous generation.
    with store.new_generation("embed") as new:
        service = DesaService.load(checkpoint, grids=new.read_manifest().get("grids"))
        inputs = [new.read_array(array.name) for array in schema.INPUT_ARRAYS]
        vectors, table = service.embed_and_predict(*inputs, progress=progress)
        projector = Projector(max_fit=max_fit, random_state=random_state, progress=progress)
        log.info("fitting the UMAP layout of %d stars", len(vectors))
        coords = projector.fit_transform(vectors)
        new.write_array(schema.EMBEDDING.name, vectors.astype(schema.EMBEDDING.dtype))
        table["umap_x"], table["umap_y"] = coords[:, 0], coords[:, 1]
        table["missing_modality"] = pd.Categorical(table["missing_modality"])
        new.update_catalog(table)
        sha = file_sha256(Path(checkpoint))
        new.update_manifest(
            embed={
                "checkpoint": str(checkpoint),
                "checkpoint_sha256": sha,
                "run": service.metadata.get("run"),
                "git_commit": service.metadata.get("git_commit"),
                "dim": int(vectors.shape[1]),
                "layout": projector.params_,
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
    return EmbedSummary(
        len(vectors), int(vectors.shape[1]), projector.params_, sha, time.perf_counter() - start
    )
