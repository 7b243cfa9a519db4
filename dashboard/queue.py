"""The candidate queue: unlabelled stars ranked by how much they look like the user's positives.

After every label a logistic regression on the embedding (standardised, as the kNN index holds it)
is refitted: the stars labelled ``candidate`` or ``confirmed`` are the positives; the ``rejected``
ones and a seeded random sample of unlabelled stars are the negatives (positive-unlabelled
learning, as in Astronomaly's active learning: most stars are not what the user looks for).
A star's score is the classifier's decision value plus a neighbour term (closer to a positive,
farther from a rejected star: ``NEIGHBOUR_WEIGHT``, ``REJECTED_WEIGHT``), each standardised over
the candidates; with few labels a linear boundary alone misses small clumps that a neighbour
finds. The queue then takes the best-scored stars one at a time, each time lowering the score of
the stars most similar to those already taken (maximal marginal relevance), so it does not show
ten copies of one star. Weights were chosen on the seed-2026 20k survey and measured on the
seed-7919 one against random order and plain kNN (benchmarks/bench_queue.py, README).

Pure numpy and scikit-learn; the dashboard's ``QueueView`` calls ``rank``.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

#: Unlabelled stars drawn as presumed negatives per fit (our choice: enough to span the
#: embedding, small enough to refit in milliseconds).
BACKGROUND = 2000
#: Weight of the diversity term: score minus this times the cosine similarity to the nearest
#: star already queued (scores are ranks scaled to 0..1). It costs some top-100 purity (README).
DIVERSITY = 0.1
#: Weights of the standardised distance to the nearest positive (subtracted) and to the nearest
#: rejected star (added) in the score, next to the classifier's standardised decision value.
NEIGHBOUR_WEIGHT, REJECTED_WEIGHT = 1.0, 0.3
#: Above this many candidates, the neighbour term is computed for the classifier's best ones only,
#: and from the most recent ``MAX_NEIGHBOUR_LABELS`` labels of each kind (bounded cost at 10^6).
MAX_NEIGHBOUR_POOL, MAX_NEIGHBOUR_LABELS = 50_000, 64
#: Stars considered for the diverse re-ordering, per queued star.
POOL_PER_ITEM = 20


def fit_scores(
    vectors: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    *,
    rng: np.random.Generator,
    background: int = BACKGROUND,
) -> np.ndarray:
    """Score of every star, (N,): the logistic regression's decision value (higher = more positive).

    ``vectors`` (N, D) standardised embedding; ``positives``/``negatives`` row indices.
    """
    positives = np.unique(np.asarray(positives, dtype=np.int64))
    negatives = np.unique(np.asarray(negatives, dtype=np.int64))
    if positives.size == 0:
        raise ValueError("the queue needs at least one star labelled candidate or confirmed")
    labelled = np.zeros(len(vectors), dtype=bool)
    labelled[positives] = labelled[negatives] = True
    pool = np.flatnonzero(~labelled)
    unlabelled = rng.choice(pool, size=min(background, pool.size), replace=False) if pool.size else pool
    rows = np.concatenate([positives, negatives, unlabelled])
    y = np.concatenate([np.ones(positives.size), np.zeros(negatives.size + unlabelled.size)])
    # Each negative the user gave counts as much as 5 presumed ones (our choice).
    weight = np.concatenate([np.ones(positives.size), np.full(negatives.size, 5.0), np.ones(unlabelled.size)])
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500)
    model.fit(vectors[rows], y, sample_weight=weight)
    return model.decision_function(vectors)


def diverse_order(
    vectors: np.ndarray, scores: np.ndarray, candidates: np.ndarray, n: int, *, diversity: float = DIVERSITY
) -> np.ndarray:
    """Up to ``n`` of ``candidates`` in queue order: best score first, then score minus similarity.

    Among the ``POOL_PER_ITEM * n`` best-scored candidates, each next star maximises its score
    (as a rank in 0..1) minus ``diversity`` times its cosine similarity to the closest star
    already taken. ``diversity=0`` is plain ranking by score.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.size == 0 or n <= 0:
        return candidates[:0]
    pool = candidates[np.argsort(-scores[candidates], kind="stable")[: POOL_PER_ITEM * n]]
    if diversity <= 0:
        return pool[:n]
    value = 1.0 - np.arange(pool.size) / max(pool.size - 1, 1)  # rank score, best = 1
    unit = vectors[pool] / np.maximum(np.linalg.norm(vectors[pool], axis=1, keepdims=True), 1e-12)
    nearest = np.full(pool.size, -1.0)
    taken = np.zeros(pool.size, dtype=bool)
    order = []
    for _ in range(min(n, pool.size)):
        gain = np.where(taken, -np.inf, value - diversity * np.maximum(nearest, 0.0))
        best = int(np.argmax(gain))
        order.append(best)
        taken[best] = True
        nearest = np.maximum(nearest, unit @ unit[best])
    return pool[np.asarray(order, dtype=np.int64)]


def rank(
    vectors: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator,
    diversity: float = DIVERSITY,
) -> np.ndarray:
    """The next ``n`` unlabelled stars to show, best first (rows of ``vectors``).

    ``positives``/``negatives`` in labelling order (the most recent count for the neighbour term).
    """
    positives = np.asarray(positives, dtype=np.int64)
    negatives = np.asarray(negatives, dtype=np.int64)
    decision = fit_scores(vectors, positives, negatives, rng=rng)
    labelled = np.zeros(len(vectors), dtype=bool)
    labelled[positives] = labelled[negatives] = True
    candidates = np.flatnonzero(~labelled)
    if candidates.size > MAX_NEIGHBOUR_POOL:
        candidates = candidates[np.argsort(-decision[candidates], kind="stable")[:MAX_NEIGHBOUR_POOL]]
    scores = np.full(len(vectors), -np.inf)
    scores[candidates] = combined_scores(vectors, decision, positives, negatives, candidates)
    return diverse_order(vectors, scores, candidates, n, diversity=diversity)


def _standardised(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def nearest_distance(vectors: np.ndarray, rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Euclidean distance of each candidate to the nearest of ``rows`` (chunked: bounded memory)."""
    targets = vectors[rows]
    squares = (targets**2).sum(1)
    out = np.empty(candidates.size)
    for start in range(0, candidates.size, 8192):
        chunk = vectors[candidates[start : start + 8192]]
        squared = (chunk**2).sum(1)[:, None] - 2 * chunk @ targets.T + squares[None, :]
        out[start : start + 8192] = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
    return out


def combined_scores(
    vectors: np.ndarray,
    decision: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    candidates: np.ndarray,
) -> np.ndarray:
    """Score of each candidate: classifier, minus distance to a positive, plus distance to a rejection.

    Each term standardised over ``candidates``; see ``NEIGHBOUR_WEIGHT`` and ``REJECTED_WEIGHT``.
    """
    score = _standardised(decision[candidates])
    recent = positives[-MAX_NEIGHBOUR_LABELS:]
    score -= NEIGHBOUR_WEIGHT * _standardised(nearest_distance(vectors, recent, candidates))
    if negatives.size:
        recent = negatives[-MAX_NEIGHBOUR_LABELS:]
        score += REJECTED_WEIGHT * _standardised(nearest_distance(vectors, recent, candidates))
    return score


def knn_order(vectors: np.ndarray, positives: np.ndarray, labelled: np.ndarray, n: int) -> np.ndarray:
    """Plain kNN baseline: unlabelled stars by distance to their nearest positive, nearest first."""
    mask = np.zeros(len(vectors), dtype=bool)
    mask[np.asarray(labelled, dtype=np.int64)] = True
    candidates = np.flatnonzero(~mask)
    distance = nearest_distance(vectors, np.asarray(positives, dtype=np.int64), candidates)
    return candidates[np.argsort(distance, kind="stable")[:n]]
