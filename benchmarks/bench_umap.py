"""UMAP layout: a plain fit on every star against our sample-and-place path (``Projector``).

Both go through ``desa_core.projection.Projector`` (same standardisation, UMAP parameters and seed):
the baseline with ``max_fit >= n`` (a plain ``fit_transform`` of all stars), ours with ``max_fit``
below ``n`` (fit a seeded sample, place the other stars in that layout). Inputs are synthetic
embeddings (a mixture of curved low-dimensional populations in the ``tiny`` preset's 32
dimensions). Layout quality: trustworthiness (``sklearn.manifold.trustworthiness``) and the
fraction of each star's 10 nearest neighbours kept in 2-D, on a seeded sample of stars. A warm-up
fit pays numba's JIT first. Goal (issue 8): 3 times faster or more at 10^6 stars.

A plain fit of 10^6 stars takes 20-25 minutes on 2 cores, so a size may give the plain fit a
wall-clock budget. The plain fit always runs in a forked child (which inherits the warm JIT) with
umap's verbose stage and epoch messages timestamped as they come, and is stopped when its budget
is spent. Reported then: the measured lower bound (it ran T s and was stopped at stage/epoch k of
K, so the ratio is at least T / ours) and a projection of the whole fit from its own measured
rates (seconds to the last epoch seen + the epochs left at the rate of the later half of the
epochs seen), labelled "projected". The projection is checked in the same run on each plain fit
that ran to the end: its events are cut where the stopped fit stopped (and at fixed fractions of
the epochs), and the projection from the cut events is set against the measured total.

    python -m benchmarks.bench_umap --sizes 100000 1000000 --max-fit 10000 100000 --budget 0 300
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import re
import sys
import time
from typing import Any

import numpy as np

from benchmarks.common import ratio

GOAL_RATIO_1E6 = 3.0
DIM = 32
#: Fractions of the epochs at which a completed plain fit's events are cut to check the projection.
CHECK_FRACTIONS = (0.05, 0.1, 0.25, 0.5)


def synthetic_embeddings(n: int, dim: int = DIM, clusters: int = 8, seed: int = 0) -> np.ndarray:
    """``n`` float32 vectors: each cluster a noisy curve-and-sheet in a random 3-D subspace."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, clusters, n)
    t = rng.uniform(-1, 1, (n, 2))
    latent = np.column_stack([t[:, 0], t[:, 1], 0.6 * np.sin(2.5 * t[:, 0])])
    out = np.empty((n, dim), np.float32)
    for k in range(clusters):
        rows = label == k
        basis = np.linalg.qr(rng.standard_normal((dim, 3)))[0].T * 2.0
        centre = rng.normal(0, 3.0, dim)
        out[rows] = latent[rows] @ basis + centre + rng.normal(0, 0.15, (rows.sum(), dim))
    return out


def quality(x: np.ndarray, y: np.ndarray, sample: int = 2000, k: int = 10, seed: int = 1) -> dict[str, float]:
    """Trustworthiness and k-NN preservation of layout ``y`` of ``x`` on ``sample`` random stars."""
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), min(sample, len(x)), replace=False))
    xs, ys = x[idx].astype(np.float64), y[idx].astype(np.float64)
    k = min(k, len(idx) - 2)
    high = NearestNeighbors(n_neighbors=k + 1).fit(xs).kneighbors(xs, return_distance=False)[:, 1:]
    low = NearestNeighbors(n_neighbors=k + 1).fit(ys).kneighbors(ys, return_distance=False)[:, 1:]
    kept = np.mean([len(set(a) & set(b)) / k for a, b in zip(high, low, strict=True)])
    return {
        "trustworthiness": float(trustworthiness(xs, ys, n_neighbors=k)),
        "knn_preservation": float(kept),
        "sample": len(idx),
        "k": k,
    }


def _layout(x: np.ndarray, max_fit: int) -> tuple[float, np.ndarray, Any]:
    from desa_core.projection import Projector

    projector = Projector(max_fit=max_fit, random_state=42)
    start = time.perf_counter()
    coords = projector.fit_transform(x)
    return time.perf_counter() - start, coords, projector


# --- the plain fit, timed stage by stage from umap's own messages -----------------------------
#: umap 0.5 verbose lines (and its tqdm epoch bar) -> stage names. Unknown lines are kept, unnamed.
_STAGES = (
    ("graph", re.compile(r"Construct fuzzy simplicial set")),
    ("nn_forest", re.compile(r"Building RP forest")),
    ("nn_descent", re.compile(r"NN descent for (\d+) iterations")),
    ("nn_iteration", re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")),
    ("nn_done", re.compile(r"Finished Nearest Neighbor Search")),
    ("embedding", re.compile(r"Construct embedding")),
    ("epoch", re.compile(r"(\d+)/(\d+) \[")),
    ("done", re.compile(r"Finished embedding")),
)


class _LineClock(io.TextIOBase):
    r"""A text stream that timestamps every line (``\n`` or tqdm's ``\r``) and hands it on."""

    def __init__(self, emit: Any) -> None:
        self._emit = emit
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        parts = re.split(r"[\r\n]", self._buffer)
        self._buffer = parts.pop()
        for line in parts:
            if line.strip():
                self._emit(("line", time.perf_counter(), line.strip()[:200]))
        return len(text)


def _verbose_plain_fit(x: np.ndarray, emit: Any) -> np.ndarray:
    """The plain fit with umap's messages (numba's prints and tqdm's epoch bar too) sent to ``emit``."""
    from desa_core.projection import Projector

    streams = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _LineClock(emit)
    try:
        emit(("start", time.perf_counter(), ""))
        coords = Projector(max_fit=len(x), random_state=42, verbose=True).fit_transform(x)
        emit(("end", time.perf_counter(), ""))
    finally:
        sys.stdout, sys.stderr = streams
    return coords


def _plain_child(x: np.ndarray, conn: Any, warmup: int) -> None:
    """Child process: (warm up if spawned,) then the verbose plain fit, its lines sent as they come."""
    if warmup:
        _layout(synthetic_embeddings(warmup, seed=9), warmup - 1)
    coords = _verbose_plain_fit(x, conn.send)
    conn.send(("coords", time.perf_counter(), coords))
    conn.close()


def _fork_is_safe() -> bool:
    """Forking is safe unless numba already runs a GNU OpenMP pool in this process (it aborts)."""
    import numba

    try:
        return numba.threading_layer() != "omp"
    except ValueError:  # no parallel region launched yet: choose a fork-safe layer now
        numba.config.THREADING_LAYER = "workqueue"
        return True


def plain_fit(x: np.ndarray, budget_s: float | None, warmup: int) -> dict[str, Any]:
    """Plain ``Projector`` fit of all of ``x``, timed stage by stage, stopped after ``budget_s``.

    Without a budget it runs in this process. With one it runs in a child process that is killed
    when the budget is spent: forked, so it inherits this process's warm JIT, or, where forking is
    unsafe (numba's GNU OpenMP pool already running), spawned and warmed up first (not timed).
    Returns the measured seconds (to the end, or to the stop), the stage timeline, where it stopped
    and, if it finished, the coordinates.
    """
    messages: list[tuple[str, float, Any]] = []
    process = "this process"
    if budget_s is None:
        coords = _verbose_plain_fit(x, messages.append)
    else:
        process = "forked child" if _fork_is_safe() else "spawned child (warmed up first, not timed)"
        coords = _run_child(x, budget_s, warmup, process.startswith("forked"), messages)
    start = next(t for kind, t, _ in messages if kind == "start")
    stop = next((t for kind, t, _ in messages if kind in ("end", "stop")), None)
    timeline = stage_timeline([(t - start, line) for kind, t, line in messages if kind == "line"])
    out: dict[str, Any] = {
        "completed": coords is not None,
        "seconds": stop - start,
        "budget_s": budget_s,
        "process": process,
        "stages": timeline,
        "stopped_at": None if coords is not None else _where(timeline),
        "projection": project(timeline),
    }
    return out | ({"coords": coords} if coords is not None else {})


def _run_child(
    x: np.ndarray, budget_s: float, warmup: int, fork: bool, messages: list[tuple[str, float, Any]]
) -> np.ndarray | None:
    """Run the plain fit in a child and kill it once ``budget_s`` has passed since the fit started.

    Collects the child's messages (a ``stop`` message marks when the fit started). Returns its
    coordinates if it ended.
    """
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_plain_child, args=(x, send, 0 if fork else warmup), daemon=True)
    proc.start()
    send.close()
    deadline = None
    try:
        while True:
            wait = None if deadline is None else deadline - time.perf_counter()
            if wait is not None and (wait <= 0 or not recv.poll(wait)):
                messages.append(("stop", time.perf_counter(), ""))
                return None
            kind, t, payload = recv.recv()
            if kind == "coords":
                return payload
            messages.append((kind, t, payload))
            if kind == "start":
                deadline = t + budget_s
    except EOFError as exc:
        proc.join(10)
        last = " | ".join(str(m[2]) for m in messages[-3:])
        raise RuntimeError(f"the plain-fit child died (exit code {proc.exitcode}): {last}") from exc
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()


def stage_timeline(lines: list[tuple[float, str]]) -> dict[str, Any]:
    """Seconds from the fit's start to each stage umap announced, and every epoch's end."""
    marks: dict[str, float] = {}
    epochs: list[tuple[int, float]] = []
    n_epochs = nn_iterations = nn_done = None
    for t, line in lines:
        for name, pattern in _STAGES:
            match = pattern.search(line)
            if not match:
                continue
            if name == "epoch":
                n_epochs = int(match.group(2))
                if not epochs or int(match.group(1)) > epochs[-1][0]:
                    epochs.append((int(match.group(1)), t))
                marks.setdefault("epochs_start", t)
            elif name == "nn_iteration":
                nn_done, nn_iterations = int(match.group(1)), int(match.group(2))
                marks["nn_last_iteration"] = t
            else:
                marks.setdefault(name, t)
            break
    return {
        "marks_s": marks,
        "epochs": [[k, t] for k, t in epochs],
        "n_epochs": n_epochs,
        "nn_iterations": [nn_done, nn_iterations],
    }


def _where(timeline: dict[str, Any]) -> dict[str, Any]:
    """The stage the fit was in when stopped: the last one umap announced, with its progress."""
    marks, epochs = timeline["marks_s"], timeline["epochs"]
    if epochs:
        return {"stage": "optimisation epochs", "done": epochs[-1][0], "of": timeline["n_epochs"]}
    if "embedding" in marks:
        return {"stage": "spectral initial layout", "done": None, "of": None}
    if "nn_done" in marks:
        return {"stage": "fuzzy graph", "done": None, "of": None}
    if "nn_descent" in marks:
        done, of = timeline["nn_iterations"]
        return {"stage": "nearest neighbours (NN-descent iterations)", "done": done or 0, "of": of}
    if "nn_forest" in marks:
        return {"stage": "nearest neighbours (random-projection forest)", "done": None, "of": None}
    if "graph" in marks:
        return {"stage": "nearest neighbours and fuzzy graph", "done": None, "of": None}
    return {"stage": "set-up", "done": None, "of": None}


def project(timeline: dict[str, Any]) -> dict[str, Any] | None:
    """Projected seconds of the whole fit from its own measured rates (None before two epochs).

    Seconds to the last epoch seen, plus the epochs left at the rate of the later half of the
    epochs seen: early epochs are cheaper (an edge is first sampled after 1/weight epochs, so the
    work per epoch ramps up), so the rate since the first epoch would project too little.
    """
    epochs, n_epochs = timeline["epochs"], timeline["n_epochs"]
    if not n_epochs or not epochs or epochs[-1][0] < 2:
        return None
    done, t = epochs[-1]
    half_k, half_t = min(epochs, key=lambda e: abs(e[0] - done / 2))
    if half_k >= done:
        half_k, half_t = epochs[0]
    per_epoch = (t - half_t) / (done - half_k)
    return {
        "seconds": t + per_epoch * (n_epochs - done),
        "before_epochs_s": timeline["marks_s"].get("epochs_start"),
        "per_epoch_s": per_epoch,
        "rate_from_epochs": [half_k, done],
        "n_epochs": n_epochs,
    }


def cut(timeline: dict[str, Any], epochs_done: int) -> dict[str, Any]:
    """``timeline`` as it would read had the fit been stopped after ``epochs_done`` epochs."""
    return timeline | {"epochs": [e for e in timeline["epochs"] if e[0] <= epochs_done]}


def check_projection(plain: dict[str, Any], stopped_fraction: float | None) -> list[dict[str, Any]]:
    """Projections from a completed fit's events cut at fractions of its epochs, against its total."""
    n_epochs = plain["stages"]["n_epochs"]
    if not plain["completed"] or not n_epochs:
        return []
    fractions = sorted({*CHECK_FRACTIONS, *([stopped_fraction] if stopped_fraction else [])})
    out = []
    for fraction in fractions:
        done = max(1, round(fraction * n_epochs))
        projected = project(cut(plain["stages"], done))
        if projected is None:
            continue
        out.append(
            {
                "fraction": fraction,
                "epochs_done": done,
                "as_stopped_fit": fraction == stopped_fraction,
                "projected_s": projected["seconds"],
                "measured_s": plain["seconds"],
                "error": projected["seconds"] / plain["seconds"] - 1,
            }
        )
    return out


#: A plain-fit budget of "goal": just long enough to settle the goal by a measured lower bound.
GOAL_BUDGET = "goal"
#: Margin over (goal ratio x our time) for a "goal" budget, so a lower bound lands past the goal.
GOAL_BUDGET_MARGIN = 1.1


def bench_size(
    n: int, max_fit: int, budget_s: float | str | None = None, warmup: int = 5000
) -> dict[str, Any]:
    """Plain fit of ``n`` stars (within ``budget_s``) against fit-on-``max_fit``-and-place.

    ``budget_s="goal"`` gives the plain fit ``GOAL_RATIO_1E6 x GOAL_BUDGET_MARGIN`` times our
    measured time: if it is still running then, the goal is met by a measured lower bound, and
    ``make bench`` spends no more time on it (``make bench-full`` runs it to the end).
    """
    if max_fit >= n:
        raise ValueError(f"max_fit={max_fit} must be below n={n} for sample-and-transform")
    x = synthetic_embeddings(n)
    entry: dict[str, Any] = {"n_stars": n, "max_fit": max_fit}
    seconds, coords, projector = _layout(x, max_fit)
    entry["ours"] = {
        "seconds": seconds,
        "mode": projector.params_["mode"],
        "transform_epochs": projector.params_.get("transform_epochs"),
        **projector.seconds_,
        **quality(x, coords),
    }
    del coords
    if budget_s == GOAL_BUDGET:
        budget_s = GOAL_RATIO_1E6 * GOAL_BUDGET_MARGIN * seconds
        entry["budget_rule"] = f"{GOAL_RATIO_1E6:g} x {GOAL_BUDGET_MARGIN:g} x our time"
    plain = plain_fit(x, budget_s, warmup)
    if plain["completed"]:
        plain.update(quality(x, plain.pop("coords")))
        entry["ratio"] = ratio(plain["seconds"], seconds)
    else:
        entry["ratio_lower_bound"] = ratio(plain["seconds"], seconds)
        if plain["projection"]:
            entry["ratio_projected"] = ratio(plain["projection"]["seconds"], seconds)
    entry["plain"] = plain
    if n == 1_000_000:
        measured = entry.get("ratio") or entry.get("ratio_lower_bound") or 0
        entry["goal"] = {
            "min_ratio": GOAL_RATIO_1E6,
            # Met only on measured figures: the full ratio, or a lower bound already past the goal.
            "met": bool(measured >= GOAL_RATIO_1E6),
            "met_if_projected": bool((entry.get("ratio_projected") or 0) >= GOAL_RATIO_1E6),
        }
    return entry


def _describe(entry: dict[str, Any]) -> str:
    o, p = entry["ours"], entry["plain"]
    ours = f"sample {entry['max_fit']:,} + place {o['seconds']:.1f} s (T={o['trustworthiness']:.3f})"
    if p["completed"]:
        return f"plain {p['seconds']:.1f} s (T={p['trustworthiness']:.3f}), {ours}, x{entry['ratio']:.1f}"
    where = p["stopped_at"]
    at = f"{where['stage']}" + (f" {where['done']}/{where['of']}" if where["of"] else "")
    text = f"plain stopped after {p['seconds']:.1f} s at {at}, {ours}, "
    text += f"x{entry['ratio_lower_bound']:.1f} or more"
    if p["projection"]:
        text += f"; projected plain {p['projection']['seconds']:.0f} s, x{entry['ratio_projected']:.1f}"
    return text


def run(sizes: tuple[tuple[Any, ...], ...] = ((100_000, 10_000),), warmup: int = 5000) -> dict[str, Any]:
    """Time the UMAP layout at each of ``sizes``, next to a plain fit.

    ``sizes``: (n stars, max_fit[, plain-fit budget in s or None]) tuples. The warm-up (>= 4096
    points: NN-descent JIT) is timed; the projection checks run after all sizes.
    """
    _fork_is_safe()  # picks numba's fork-safe threading layer before the warm-up launches one
    start = time.perf_counter()
    _layout(synthetic_embeddings(warmup, seed=9), warmup - 1)
    out: dict[str, Any] = {"warmup_s": time.perf_counter() - start, "warmup_stars": warmup, "sizes": []}
    for n, max_fit, *budget in sizes:
        entry = bench_size(n, max_fit, budget[0] if budget else None, warmup)
        out["sizes"].append(entry)
        print(f"umap n={n:,}: {_describe(entry)}", flush=True)
    stopped = [e["plain"] for e in out["sizes"] if not e["plain"]["completed"]]
    fraction = None
    if stopped and stopped[-1]["stopped_at"]["stage"] == "optimisation epochs":
        where = stopped[-1]["stopped_at"]
        fraction = where["done"] / where["of"]
    for entry in out["sizes"]:
        entry["projection_check"] = check_projection(entry["plain"], fraction)
        for c in entry["projection_check"]:
            if c["as_stopped_fit"]:
                print(
                    f"umap n={entry['n_stars']:,}: projection from the first {c['epochs_done']} epochs "
                    f"{c['projected_s']:.1f} s, measured {c['measured_s']:.1f} s ({c['error']:+.0%})",
                    flush=True,
                )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--max-fit", type=int, nargs="+", default=[10_000], help="one per size")
    parser.add_argument("--budget", type=float, nargs="+", help="plain-fit seconds per size, 0 = none")
    args = parser.parse_args(argv)
    budgets = args.budget or [0] * len(args.sizes)
    if not len(args.max_fit) == len(budgets) == len(args.sizes):
        parser.error("give one --max-fit (and --budget) per --sizes value")
    sizes = tuple((n, m, b or None) for n, m, b in zip(args.sizes, args.max_fit, budgets, strict=True))
    print(json.dumps(run(sizes), indent=2))


if __name__ == "__main__":
    main()
