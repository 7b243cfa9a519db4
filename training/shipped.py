"""Shipped model weights: the trained demo model inside the package, checked before use, rebuilt on demand.

``make demo`` embeds the demo survey with weights that ship in the repository instead of training
them for 15 minutes first. Layout, one folder per training config name::

    training/weights/<name>/model.pt     a DESA checkpoint (desa_core.checkpoint, weights_only=True)
    training/weights/<name>/model.json   sidecar: format, sha256 of model.pt, the training and model
                                         configs, the git commit that trained it, the survey it was
                                         trained on (size, seed, split seed, truth sha256) and the
                                         figures recorded on that survey and on a check survey

Weights are used only if they fit the code (:func:`check_weights`): the sidecar matches the file,
the checkpoint loads strictly, its model config is the one ``desa train --config <name>`` would
build today, and its spectrum grid is the survey's. Anything else is refused with the reason and
the fix (``make demo-weights``).

Figures (:func:`survey_figures`) are the model's own, computed here, not ``desa evaluate``'s: R²
and 68 %-interval coverage of each head, binary AUC and AP, and a linear probe of the embedding
(ridge, fitted on the survey's training split). They are recorded on the demo survey's test split
and on a small check survey simulated with another seed (none of its stars was trained on);
``tests/training/test_shipped.py`` rebuilds the check survey and reproduces its figures within
:data:`TOLERANCE`, so code and weights cannot drift apart silently.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score

from data.provenance import file_sha256
from data.schema import PROPERTIES
from data.storage import SurveyStore, atomic_path, atomic_write_text
from desa_core.checkpoint import CheckpointError, load_checkpoint
from desa_core.config import DesaConfig
from desa_core.heads import LOG_PROPERTIES
from desa_core.serving import DesaService
from training.config import TrainConfig, load_config
from training.tensors import INPUT_ARRAYS, label_table, training_splits

log = logging.getLogger(__name__)

FORMAT = "desa-shipped-weights"
FORMAT_VERSION = 1
MODEL_FILE, SIDECAR_FILE = "model.pt", "model.json"
#: The check survey: small enough for a test on one core (our choice), seeded apart from the
#: training survey (seed + 1), so every star is new to the model.
CHECK_STARS = 400
#: Largest allowed change of a recorded figure (R², AUC, AP, coverage; all in [0, 1]). Reruns of
#: the same weights differ by < 1e-4 (float summation order); our choice, well above that.
TOLERANCE = 0.01
#: Properties whose embedding probe is recorded: the linear ones (CMD and HR coordinates, log g, [Fe/H]).
PROBE_PROPERTIES = tuple(p.name for p in PROPERTIES if not p.log10)
REBUILD = "run `make demo-weights` (or `desa ship-weights`) to retrain and rewrite them"


class ShippedWeightsError(ValueError):
    """Shipped weights that cannot be used, printed as ``path: problem; fix``.

    ``desa`` exits with ``EXIT_STATUS`` on it (not 1), so ``make demo`` can run ``desa embed
    --shipped`` at once and train only when the weights were refused, not on any other error.
    """

    EXIT_STATUS = 3

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}; {REBUILD}")


@dataclass(frozen=True)
class ShippedWeights:
    """A checked model file and its sidecar."""

    path: Path
    sidecar: dict[str, Any]


def weights_dir(name: str) -> Path:
    """The folder of the weights shipped for training config ``name`` (in the installed package)."""
    return Path(str(resources.files("training") / "weights" / name))


def read_sidecar(folder: Path) -> dict[str, Any]:
    """The sidecar of a weights folder; a missing, unreadable or foreign one raises the error."""
    path = Path(folder) / SIDECAR_FILE
    if not path.is_file():
        raise ShippedWeightsError(path, "no shipped weights here (sidecar missing)")
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ShippedWeightsError(path, f"unreadable sidecar ({exc})") from exc
    if sidecar.get("format") != FORMAT or sidecar.get("format_version") != FORMAT_VERSION:
        raise ShippedWeightsError(path, f"not a {FORMAT} v{FORMAT_VERSION} sidecar")
    return sidecar


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two nested dicts differ, as 'key: old (weights) vs new (code)'."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    if old != new:
        return [f"{prefix.rstrip('.')}: {old!r} (weights) vs {new!r} (code)"]
    return []


def check_weights(name: str, *, folder: Path | None = None, grids: dict | None = None) -> ShippedWeights:
    """Check the weights shipped for config ``name`` against this code and a survey's ``grids``.

    Raises
    ------
    ShippedWeightsError
        Sidecar missing or not matching the file; the model config differs from what
        ``desa train --config name`` builds now; the tensors do not load strictly; or the spectrum
        grid is not the survey's. The message names the file, what differs and the fix.
    """
    folder = weights_dir(name) if folder is None else Path(folder)
    sidecar = read_sidecar(folder)
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ShippedWeightsError(path, "the sidecar has no model file beside it")
    if file_sha256(path) != sidecar.get("sha256"):
        raise ShippedWeightsError(path, f"sha256 differs from the one {SIDECAR_FILE} records")
    config = load_config(name)
    current = config.model_config().to_dict()
    try:  # read by this code: fields added since take their defaults, removed ones are refused
        stored = DesaConfig.from_dict(sidecar["model_config"]).to_dict()
    except (ValueError, TypeError, KeyError) as exc:
        raise ShippedWeightsError(path, f"a model config this code cannot build ({exc})") from exc
    if differs := _differences(stored, current):
        raise ShippedWeightsError(
            path, "trained for another architecture than this code builds: " + "; ".join(differs)
        )
    try:  # fields added since the weights were written take their defaults
        trained_with = TrainConfig.from_dict(sidecar["train_config"]).to_dict()
    except (ValueError, TypeError, KeyError):
        trained_with = sidecar["train_config"]
    if differs := _differences(trained_with, config.to_dict()):
        log.warning("%s: trained with another %s config (%s)", path, name, "; ".join(differs))
    try:
        load_checkpoint(path, grids=grids)
    except CheckpointError as exc:
        raise ShippedWeightsError(path, f"does not fit this code or survey ({exc})") from exc
    return ShippedWeights(path, sidecar)


# --- figures -------------------------------------------------------------------------------
def survey_figures(
    store: SurveyStore, checkpoint: Path, *, score_splits: tuple[str, ...] = ("test",)
) -> dict[str, Any]:
    """The model's figures on the stars of ``score_splits``.

    R² of the heads is in the space the heads model (log10 for rotation period and age). The
    embedding probe is fitted on the training split and scored on the scored stars outside it.
    """
    service = DesaService.load(checkpoint, grids=store.read_manifest().get("grids"), device="cpu")
    arrays = [store.read_array(name) for name in INPUT_ARRAYS]
    vectors, table = service.embed_and_predict(*arrays, progress=False)
    labels, binary = label_table(store, service.properties)
    split = training_splits(store.read_catalog())
    scored, train = np.isin(split, score_splits), split == "train"
    out: dict[str, Any] = {"n_scored": int(scored.sum()), "score_splits": list(score_splits)}
    r2, coverage = {}, {}
    for name in service.properties:
        y, ok = labels[name].to_numpy(float), scored & labels[name].notna().to_numpy()
        if ok.sum() < 10:
            continue
        pred, lo, hi = (table[f"pred_{name}{s}"].to_numpy(float) for s in ("", "_lo", "_hi"))
        space = np.log10 if name in LOG_PROPERTIES else np.asarray
        r2[name] = float(r2_score(space(y[ok]), space(pred[ok])))
        coverage[name] = float(np.mean((lo[ok] <= y[ok]) & (y[ok] <= hi[ok])))
    out["heads_r2"], out["coverage_68"] = r2, coverage
    ok = scored & np.isfinite(binary)
    if ok.any() and 0 < binary[ok].sum() < ok.sum():
        prob = table["binary_prob"].to_numpy(float)[ok]
        out["binary_auc"] = float(roc_auc_score(binary[ok], prob))
        out["binary_ap"] = float(average_precision_score(binary[ok], prob))
    probe = {}
    for name in PROBE_PROPERTIES:
        y = labels[name].to_numpy(float)
        fit, score = train & np.isfinite(y), scored & ~train & np.isfinite(y)
        if fit.sum() >= 10 and score.sum() >= 10:
            model = Ridge(alpha=1.0).fit(vectors[fit], y[fit])
            probe[name] = float(r2_score(y[score], model.predict(vectors[score])))
    out["probe_r2"] = probe
    return out


def _flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, float):
            out[f"{prefix}{key}"] = value
    return out


def compare_figures(
    recorded: dict[str, Any], measured: dict[str, Any], tolerance: float = TOLERANCE
) -> list[str]:
    """Every figure that moved by more than ``tolerance`` or went missing, as readable lines."""
    old, new = _flatten(recorded), _flatten(measured)
    problems = [f"{key}: recorded {old[key]:.4f}, missing now" for key in sorted(set(old) - set(new))]
    for key in sorted(set(old) & set(new)):
        if not abs(new[key] - old[key]) <= tolerance:
            problems.append(f"{key}: recorded {old[key]:.4f}, now {new[key]:.4f} (tolerance {tolerance})")
    return problems


# --- surveys -------------------------------------------------------------------------------
def build_survey(
    folder: Path, n_stars: int, seed: int, *, workers: int = 1, progress: bool = False
) -> SurveyStore:
    """Simulate and ingest ``n_stars`` with ``seed`` (also the split seed, as ``make demo`` does)."""
    from data.ingest import ingest_survey
    from data.simulate import SurveyConfig, simulate_survey

    store = SurveyStore(Path(folder))
    config = SurveyConfig(n_stars=n_stars, seed=seed, workers=workers)
    simulate_survey(config, store.raw_dir, rng=np.random.default_rng(seed), progress=progress)
    ingest_survey(store.raw_dir, store, seed=seed, progress=progress, workers=workers)
    return store


def check_survey_figures(
    checkpoint: Path, n_stars: int, seed: int, *, workers: int = 1, progress: bool = False
) -> dict[str, Any]:
    """Figures on a freshly simulated check survey: heads scored on every star (none trained on)."""
    with tempfile.TemporaryDirectory(prefix="desa_check_survey_") as tmp:
        store = build_survey(Path(tmp) / "check", n_stars, seed, workers=workers, progress=progress)
        figures = survey_figures(store, checkpoint, score_splits=("train", "val", "test"))
    return {"n_stars": n_stars, "seed": seed, **figures}


def _same_survey(store: SurveyStore, n_stars: int, seed: int) -> str | None:
    """Why ``store`` is not the survey ``desa simulate --n-stars n_stars --seed seed`` writes, or None."""
    from data.simulate import SurveyConfig
    from data.simulate.population import draw_population

    truth = store.read_truth()
    if truth is None or len(truth) != n_stars:
        return f"{store.truth_path}: {0 if truth is None else len(truth)} stars, not {n_stars}"
    drawn = draw_population(SurveyConfig(n_stars=n_stars, seed=seed), np.random.default_rng(seed))
    if set(truth["kic_id"]) != set(drawn["kic_id"]):
        return f"{store.truth_path}: not the survey simulated with seed {seed}"
    if store.read_manifest().get("ingest", {}).get("seed") != seed:
        return f"{store.manifest_path}: ingested with another split seed than {seed}"
    return None


# --- rebuilding ----------------------------------------------------------------------------
def ship_weights(
    store: SurveyStore,
    config: TrainConfig,
    *,
    n_stars: int,
    seed: int,
    out_dir: Path | None = None,
    retrain: bool = True,
    check_stars: int = CHECK_STARS,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Train ``config`` on the survey (simulated and ingested first if absent), then write the shipped files.

    ``store`` must hold the survey ``desa simulate --n-stars n_stars --seed seed`` writes, ingested
    with split seed ``seed``; it is built when it has no catalogue and refused when it differs.
    ``retrain=False`` ships the finished run already in ``<survey>/models/<config.name>``.
    Returns the sidecar path.
    """
    import os

    from training.run import run_dir, train

    workers = workers or os.cpu_count() or 1
    if not store.has_catalog():
        log.info("building the %d-star survey (seed %d) in %s", n_stars, seed, store.root)
        build_survey(store.root, n_stars, seed, workers=workers, progress=progress)
    if problem := _same_survey(store, n_stars, seed):
        raise ShippedWeightsError(store.root, f"not the survey to ship from: {problem}")
    if retrain:
        train(config, store, restart=True, progress=progress)
    checkpoint = run_dir(store, config) / MODEL_FILE
    model, metadata = load_checkpoint(checkpoint, grids=store.read_manifest().get("grids"))
    if metadata.get("stages_done") != ["pretrain_lightcurve", "pretrain_spectrum", "align", "finetune"]:
        raise ShippedWeightsError(checkpoint, f"unfinished run (stages done: {metadata.get('stages_done')})")
    log.info("recording figures on the survey's test split and on a %d-star check survey", check_stars)
    figures = {
        "survey_test": survey_figures(store, checkpoint, score_splits=("test",)),
        "check": check_survey_figures(checkpoint, check_stars, seed + 1, workers=workers, progress=progress),
    }
    out_dir = weights_dir(config.name) if out_dir is None else Path(out_dir)
    target = out_dir / MODEL_FILE
    with atomic_path(target) as tmp:
        shutil.copyfile(checkpoint, tmp)
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": config.name,
        "file": MODEL_FILE,
        "sha256": file_sha256(target),
        "git_commit": metadata.get("git_commit", "unknown"),
        "shipped_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": f"desa ship-weights --config {config.name} --n-stars {n_stars} --seed {seed}"
        + ("" if retrain else " --reuse (shipping a run trained by `desa train`)"),
        "survey": {
            "n_stars": n_stars,
            "seed": seed,
            "split_seed": seed,
            "truth_sha256": file_sha256(store.truth_path),
            "grids": store.read_manifest().get("grids", {}),
        },
        "train_config": config.to_dict(),
        "model_config": model.config.to_dict(),
        "stage_results": metadata.get("stage_results", []),
        "tolerance": TOLERANCE,
        "figures": figures,
    }
    return atomic_write_text(out_dir / SIDECAR_FILE, json.dumps(sidecar, indent=2) + "\n")
