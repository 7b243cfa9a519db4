"""Checkpoint safety and the serving contract."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from data import preprocess
from desa_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from desa_core.config import DesaConfig
from desa_core.model import DesaModel
from desa_core.serving import DesaService


@pytest.fixture(scope="module")
def model() -> DesaModel:
    torch.manual_seed(0)
    return DesaModel(DesaConfig.tiny()).eval()


def test_round_trip_preserves_outputs(tmp_path: Path, model: DesaModel) -> None:
    path = save_checkpoint(tmp_path / "m.pt", model, metadata={"run": "x"})
    loaded, meta = load_checkpoint(path)
    assert meta == {"run": "x"}
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


@pytest.mark.parametrize(
    ("key", "stored", "message"),
    [
        ("lc_length", 512, "lc_length 512 (model: 1024)"),
        ("lc_channels", ["relative_flux_pct", "acf"], "lc_channels 2 (model: 3)"),
        ("spec_length", 2048, "spec_length 2048 (model: 3840)"),
    ],
)
def test_load_refuses_a_store_on_other_grids(
    tmp_path: Path, model: DesaModel, key: str, stored: object, message: str
) -> None:
    """The model's input lengths are compared with the store's grids when it is loaded."""
    path = save_checkpoint(tmp_path / "m.pt", model)
    grids = preprocess.grid_description()
    load_checkpoint(path, grids=grids)
    with pytest.raises(CheckpointError, match=rf"m\.pt: .*{re.escape(message)}.*desa ingest"):
        load_checkpoint(path, grids={**grids, key: stored})


class _Evil:
    """Unpickling this creates ``marker`` (stands in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def test_pickled_code_is_refused(tmp_path: Path, model: DesaModel) -> None:
    """A whole, valid checkpoint with one pickled object more: only a safe loader refuses it."""
    marker = tmp_path / "pwned"
    payload = torch.load(save_checkpoint(tmp_path / "good.pt", model), weights_only=True)
    torch.save({**payload, "extra": _Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused: the file holds pickled code"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists(), "the pickled code ran"


def test_foreign_truncated_and_wrong_version_files(tmp_path: Path, model: DesaModel) -> None:
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match=r"foreign\.pt"):
        load_checkpoint(foreign)
    good = save_checkpoint(tmp_path / "good.pt", model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"truncated\.pt"):
        load_checkpoint(truncated)
    payload = torch.load(good, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "v99.pt")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(tmp_path / "v99.pt")


def test_wrong_shapes_name_the_problem(tmp_path: Path, model: DesaModel) -> None:
    payload = torch.load(save_checkpoint(tmp_path / "m.pt", model), weights_only=True)
    payload["state_dict"]["projection"] = torch.zeros(3, 3)
    torch.save(payload, tmp_path / "shapes.pt")
    with pytest.raises(CheckpointError, match="projection"):
        load_checkpoint(tmp_path / "shapes.pt")


def test_service_embeds_predicts_and_finds_neighbours(tmp_path: Path, model: DesaModel) -> None:
    service = DesaService.load(save_checkpoint(tmp_path / "m.pt", model))
    cfg = model.config
    rng = np.random.default_rng(0)
    n = 7
    lc = rng.normal(size=(n, cfg.lightcurve.channels, cfg.lightcurve.length)).astype(np.float32)
    lc_mask = np.ones((n, cfg.lightcurve.length), bool)
    lc_mask[2] = False
    spec = (1 + 0.1 * rng.normal(size=(n, cfg.spectrum.length))).astype(np.float32)
    spec_mask = np.ones((n, cfg.spectrum.length), bool)
    vectors, table = service.embed_and_predict(lc, lc_mask, spec, spec_mask, batch_size=3, progress=False)
    assert vectors.shape == (n, cfg.embedding_dim) and vectors.dtype == np.float32
    assert list(table["missing_modality"]) == ["", "", "lightcurve", "", "", "", ""]
    for name in cfg.heads.properties:
        assert (table[f"pred_{name}_lo"] <= table[f"pred_{name}"]).all()
        assert (table[f"pred_{name}"] <= table[f"pred_{name}_hi"]).all()
    assert table["binary_prob"].between(0, 1).all()
    service.fit_neighbours(vectors)
    found = service.neighbours(vectors[:2], k=3)
    assert found.rows.shape == found.distances.shape == (2, 3) and list(found.rows[:, 0]) == [0, 1]
    # A star against itself: 0 up to float32 rounding (scikit-learn's brute euclidean distance is
    # sqrt(|a|² + |b|² - 2 a·b), about 1e-7 for a == b, depending on the values).
    assert (found.distances[:, 0] < 1e-5).all() and (np.diff(found.distances, axis=1) >= 0).all()
    lc_mask[4], spec_mask[4] = False, False
    with pytest.raises(ValueError, match="neither"):
        service.embed(lc, lc_mask, spec, spec_mask, progress=False)


def test_batches_side_by_side_give_the_one_thread_result_in_order(model: DesaModel) -> None:
    """Concurrent batches (serving.py) keep the star order and torch's thread setting."""
    service = DesaService(model, device="cpu")
    cfg = model.config
    rng = np.random.default_rng(1)
    n = 11
    lc = rng.normal(size=(n, cfg.lightcurve.channels, cfg.lightcurve.length)).astype(np.float32)
    spec = (1 + 0.1 * rng.normal(size=(n, cfg.spectrum.length))).astype(np.float32)
    masks = np.ones((n, cfg.lightcurve.length), bool), np.ones((n, cfg.spectrum.length), bool)
    threads = torch.get_num_threads()
    one, one_table = service.embed_and_predict(
        lc, masks[0], spec, masks[1], batch_size=11, workers=1, progress=False
    )
    side, side_table = service.embed_and_predict(
        lc, masks[0], spec, masks[1], batch_size=2, workers=3, progress=False
    )
    assert torch.get_num_threads() == threads
    np.testing.assert_allclose(side, one, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(side_table["pred_teff_k"], one_table["pred_teff_k"], rtol=1e-5)
