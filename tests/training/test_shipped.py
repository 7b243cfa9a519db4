"""The shipped demo weights fit this code, are refused when they do not, and reproduce their figures.

The slow test rebuilds the sidecar's check survey (400 simulated stars, seeded apart from the
training survey), embeds it with the shipped weights and compares every recorded figure within the
sidecar's tolerance; the same survey scored with perturbed weights shows the comparison can fail.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from data.provenance import file_sha256
from data.storage import SurveyStore
from desa_core.checkpoint import load_checkpoint, save_checkpoint
from desa_core.config import DesaConfig
from training import shipped
from training.config import STAGES, TrainConfig, load_config

#: A weights file larger than this does not belong in the repository (our choice: a few MB).
MAX_BYTES = 5_000_000


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    shutil.copytree(shipped.weights_dir("demo"), folder)
    return folder


def _rewrite_sidecar(folder: Path, **changes: object) -> None:
    path = folder / shipped.SIDECAR_FILE
    sidecar = json.loads(path.read_text(encoding="utf-8"))
    sidecar.update(changes)
    path.write_text(json.dumps(sidecar), encoding="utf-8")


def test_shipped_demo_weights_fit_this_code_and_say_where_they_come_from() -> None:
    weights = shipped.check_weights("demo")
    sidecar = weights.sidecar
    assert weights.path.stat().st_size < MAX_BYTES
    assert len(sidecar["git_commit"]) == 40, "the sidecar names the commit that trained the weights"
    assert sidecar["survey"]["n_stars"] >= 1000 and isinstance(sidecar["survey"]["seed"], int)
    # Read as check_weights reads it: config fields added since the weights take their defaults.
    assert TrainConfig.from_dict(sidecar["train_config"]) == load_config("demo")
    assert set(sidecar["figures"]) == {"survey_test", "check"}
    model, metadata = load_checkpoint(weights.path)
    assert metadata["stages_done"] == list(STAGES)
    assert model.config == load_config("demo").model_config()  # preset, fusion and measured indices


def test_weights_for_another_architecture_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed architecture default (here the DualFormer's width) refuses the shipped weights."""
    preset = DesaConfig.preset

    def wider(name: str, fusion: str = "paper") -> DesaConfig:
        config = preset(name, fusion)
        return dataclasses.replace(config, dualformer=dataclasses.replace(config.dualformer, width=48))

    monkeypatch.setattr(DesaConfig, "preset", staticmethod(wider))
    with pytest.raises(
        shipped.ShippedWeightsError, match=r"another architecture.*dualformer\.width.*demo-weights"
    ):
        shipped.check_weights("demo")


def test_weights_on_another_spectrum_grid_are_refused() -> None:
    with pytest.raises(shipped.ShippedWeightsError, match=r"spec_length 2048.*demo-weights"):
        shipped.check_weights("demo", grids={"spec_length": 2048})


def test_a_model_file_the_sidecar_does_not_describe_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    with open(folder / shipped.MODEL_FILE, "ab") as f:
        f.write(b"\0")
    with pytest.raises(shipped.ShippedWeightsError, match=r"sha256 differs"):
        shipped.check_weights("demo", folder=folder)


def test_tensors_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / shipped.MODEL_FILE
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop("projection")
    torch.save(payload, path)
    _rewrite_sidecar(folder, sha256=file_sha256(path))
    with pytest.raises(shipped.ShippedWeightsError, match=r"does not fit.*projection.*demo-weights"):
        shipped.check_weights("demo", folder=folder)


def test_a_missing_sidecar_is_refused(tmp_path: Path) -> None:
    with pytest.raises(shipped.ShippedWeightsError, match=r"sidecar missing.*demo-weights"):
        shipped.check_weights("demo", folder=tmp_path)


@pytest.fixture(scope="module")
def check_survey(tmp_path_factory: pytest.TempPathFactory):
    recorded = shipped.check_weights("demo").sidecar["figures"]["check"]
    folder = tmp_path_factory.mktemp("shipped") / "check"
    return recorded, shipped.build_survey(folder, recorded["n_stars"], recorded["seed"])


@pytest.mark.slow
def test_shipped_weights_reproduce_their_recorded_figures(check_survey) -> None:
    recorded, store = check_survey
    weights = shipped.check_weights("demo")
    measured = shipped.survey_figures(store, weights.path, score_splits=tuple(recorded["score_splits"]))
    problems = shipped.compare_figures(recorded, measured, weights.sidecar["tolerance"])
    assert not problems, "the shipped weights no longer give their figures:\n" + "\n".join(problems)


@pytest.mark.slow
def test_perturbed_weights_miss_the_recorded_figures(check_survey, tmp_path: Path) -> None:
    """The comparison can fail: 10 % noise on the fusion and heads moves the figures."""
    recorded, store = check_survey
    weights = shipped.check_weights("demo")
    model, metadata = load_checkpoint(weights.path)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if (
                name.startswith(("dualformer.", "heads.body", "heads.regression"))
                and tensor.dtype.is_floating_point
            ):
                tensor += 0.1 * tensor.std().nan_to_num() * torch.randn(tensor.shape, generator=gen)
    perturbed = save_checkpoint(tmp_path / "perturbed.pt", model, metadata=metadata)
    measured = shipped.survey_figures(store, perturbed, score_splits=tuple(recorded["score_splits"]))
    assert shipped.compare_figures(recorded, measured, weights.sidecar["tolerance"])


@pytest.mark.slow
def test_ship_weights_writes_files_that_check_and_reproduce(tmp_path: Path) -> None:
    """The rebuild command end to end at a tiny size: survey, training, figures, files."""
    store = SurveyStore(tmp_path / "survey")
    out = tmp_path / "weights"
    sidecar_path = shipped.ship_weights(
        store, load_config("tiny"), n_stars=40, seed=5, out_dir=out, check_stars=40, workers=1, progress=False
    )
    weights = shipped.check_weights("tiny", folder=out, grids=store.read_manifest().get("grids"))
    sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    assert sidecar["survey"]["n_stars"] == 40 and sidecar["survey"]["seed"] == 5
    assert sidecar["figures"]["check"]["seed"] == 6, "the check survey is seeded apart from the training one"
    recorded = sidecar["figures"]["check"]
    measured = shipped.check_survey_figures(weights.path, recorded["n_stars"], recorded["seed"])
    assert shipped.compare_figures(recorded, measured) == []
    with pytest.raises(shipped.ShippedWeightsError, match=r"not the survey to ship from.*seed 7"):
        shipped.ship_weights(store, load_config("tiny"), n_stars=40, seed=7, out_dir=out, retrain=False)


def test_refused_weights_exit_with_their_own_status(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``make demo`` trains only on status 3 (weights refused), never on another error (status 1)."""
    from training.cli import main

    preset = DesaConfig.preset

    def wider(name: str, fusion: str = "paper") -> DesaConfig:
        config = preset(name, fusion)
        return dataclasses.replace(config, dualformer=dataclasses.replace(config.dualformer, width=48))

    assert main(["ship-weights", "--check", "--config", "demo"]) == 0
    missing = ["embed", "--survey-dir", str(tmp_path / "none"), "--run", "demo", "--shipped"]
    assert main(missing) == 1  # no survey there: an error, not a refusal
    monkeypatch.setattr(DesaConfig, "preset", staticmethod(wider))
    refused = main(["ship-weights", "--check", "--config", "demo"])
    assert refused == shipped.ShippedWeightsError.EXIT_STATUS == 3
