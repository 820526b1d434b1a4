"""Per-query hit tables and paired-bootstrap confidence intervals for R@k.

A method's result on Q queries is a (Q, K) table of hit probabilities (0/1
for one run, the mean over seeds for several, the exact expectation for a
random ranking). R@k is its column mean; a 95 % interval resamples the
queries with replacement. Two methods are compared on the *same* resampled
queries (a paired bootstrap), which removes the between-query variance
that both share.
"""
from math import comb
from typing import Dict, Sequence, Tuple

import numpy as np


def hit_table(first_hit: np.ndarray, topk: Sequence[int]) -> np.ndarray:
    """(Q,) rank of the first GT (``inf``: none) → (Q, K) 0/1 hits."""
    first_hit = np.asarray(first_hit, dtype=np.float64)
    return np.stack([(first_hit < k).astype(np.float64) for k in topk], 1)


def chance_table(gallery_sizes: Sequence[int], num_gt: Sequence[int],
                 topk: Sequence[int]) -> np.ndarray:
    """(Q, K) probability that a uniformly random ranking of a gallery of
    ``n`` images with ``g`` GT images has a GT in its top ``k``."""
    out = np.zeros((len(gallery_sizes), len(topk)))
    for i, (n, g) in enumerate(zip(gallery_sizes, num_gt)):
        for j, k in enumerate(topk):
            kk = min(k, n)
            out[i, j] = 1.0 - comb(n - g, kk) / comb(n, kk) if n else 0.0
    return out


def bootstrap_indices(num_queries: int, num_samples: int = 2000,
                      seed: int = 0) -> np.ndarray:
    """(S, Q) query indices drawn with replacement; share them between
    methods for paired intervals."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_queries, size=(num_samples, num_queries))


def interval(table: np.ndarray, indices: np.ndarray,
             level: float = 0.95) -> Tuple[np.ndarray, np.ndarray,
                                           np.ndarray]:
    """Point estimate and percentile interval of the column means, in %.

    Args:
        table: (Q, K) per-query values (hits, or differences of hits).
        indices: (S, Q) from :func:`bootstrap_indices`.
        level: coverage of the interval.

    Returns:
        tuple: (K,) estimate, (K,) lower and (K,) upper bound.
    """
    est = 100.0 * table.mean(0)
    samples = 100.0 * table[indices].mean(1)  # (S, K)
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha], axis=0)
    return est, lo, hi


def compare(a: np.ndarray, b: np.ndarray, indices: np.ndarray,
            level: float = 0.95) -> Dict[str, np.ndarray]:
    """Paired difference ``a - b`` of two (Q, K) tables on the same queries:
    estimate and interval in points of R@k."""
    if a.shape != b.shape:
        raise ValueError(f'tables of different shapes: {a.shape}, {b.shape}')
    est, lo, hi = interval(a - b, indices, level)
    return dict(diff=est, lo=lo, hi=hi)
