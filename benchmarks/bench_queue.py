"""Hit rate of the candidate queue (dashboard/queue.py) against random order and plain kNN.

On an embedded simulated survey the user looks for synchronized binaries: 5 of them, drawn at
random, start labelled ``confirmed``. Each strategy then shows 20 stars one at a time, and an
oracle labels each from the truth (a synchronized binary -> confirmed, anything else ->
rejected); the strategy sees the new label before choosing the next star. After those 20
labels we count the synchronized binaries among the strategy's next 100 stars (unlabelled).

* ``queue``: the dashboard's ranking (logistic regression on the standardised embedding, refitted
  after each label, plus the neighbour term, with the diversity term);
* ``queue, no diversity``: the same ranking without the diversity term (ablation);
* ``classifier only``: the logistic regression's decision value alone (ablation);
* ``kNN``: unlabelled stars by distance to their nearest positive (the rejected labels unused);
* ``random``: random order.

Mean and standard deviation over seeds.

    python -m benchmarks.bench_queue --survey-dir desa_data/demo --seeds 10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dashboard.queue import diverse_order, fit_scores, knn_order, rank
from data.schema import EMBEDDING, POPULATION, SYNC_BINARY, TRUTH_PREFIX
from data.storage import SurveyStore
from desa_core.neighbours import NeighbourIndex

START, LABELS, TOP = 5, 20, 100


def load(survey_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Standardised embedding (N, D) and whether each star is a synchronized binary (N,)."""
    store = SurveyStore(survey_dir)
    catalog = store.read_catalog_with_truth()
    index = NeighbourIndex().fit(store.read_array(EMBEDDING.name))
    vectors = (index.vectors_ - index.mean_) / index.scale_
    rows = catalog["row"].to_numpy(dtype=np.int64)
    target = np.zeros(len(vectors), dtype=bool)
    target[rows] = catalog[TRUTH_PREFIX + POPULATION].astype(str).to_numpy() == SYNC_BINARY
    return vectors, target


def run_strategy(name: str, vectors: np.ndarray, target: np.ndarray, seed: int) -> int:
    """Sync binaries among the next ``TOP`` stars of strategy ``name`` after ``LABELS`` labels."""
    rng = np.random.default_rng(seed)
    positives = list(rng.choice(np.flatnonzero(target), size=START, replace=False))
    negatives: list[int] = []

    def order(n: int) -> np.ndarray:
        labelled = np.asarray(positives + negatives, dtype=np.int64)
        if name == "random":
            pool = np.setdiff1d(np.arange(len(vectors)), labelled)
            return rng.permutation(pool)[:n]
        if name == "kNN":
            return knn_order(vectors, np.asarray(positives), labelled, n)
        fit_rng = np.random.default_rng([seed, len(labelled)])
        if name == "classifier only":
            scores = fit_scores(
                vectors, np.asarray(positives), np.asarray(negatives, dtype=np.int64), rng=fit_rng
            )
            candidates = np.setdiff1d(np.arange(len(vectors)), labelled)
            return diverse_order(vectors, scores, candidates, n, diversity=0.0)
        diversity = 0.0 if name.endswith("no diversity") else None
        options = {} if diversity is None else {"diversity": diversity}
        return rank(
            vectors, np.asarray(positives), np.asarray(negatives, dtype=np.int64), n, rng=fit_rng, **options
        )

    for _ in range(LABELS):
        star = int(order(1)[0])
        (positives if target[star] else negatives).append(star)
    return int(target[order(TOP)].sum())


STRATEGIES = ("queue", "queue, no diversity", "classifier only", "kNN", "random")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survey-dir", type=Path, action="append", required=True)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    results = {}
    for survey in args.survey_dir:
        vectors, target = load(survey)
        rows = {}
        for name in STRATEGIES:
            hits = [run_strategy(name, vectors, target, seed) for seed in range(args.seeds)]
            rows[name] = {"mean": float(np.mean(hits)), "std": float(np.std(hits)), "hits": hits}
        results[survey.name] = {
            "stars": len(vectors),
            "sync_binaries": int(target.sum()),
            "expected_random": float(TOP * target.mean()),
            "strategies": rows,
        }
        print(f"{survey.name}: {len(vectors)} stars, {target.sum()} sync binaries")
        for name, row in rows.items():
            print(f"  {name:22s} {row['mean']:6.1f} ± {row['std']:4.1f} of {TOP}")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
