"""Which scores can be among the k best: a partition, narrowed first by a strided sample."""

import numpy as np

# One score in 16 estimates a safe lower bound for the k-th best.
SAMPLE_STRIDE = 16
# Below this many scores one partition of all of them is cheaper than the extra numpy calls.
SAMPLE_MIN_ITEMS = 32768


def best_of(scores: np.ndarray, k: int, margin: float = 0.0) -> np.ndarray:
    """Indices of every score at least the k-th best minus `margin` (k or more; all ties).

    With a margin the scores are estimates off by at most margin/2 each
    (`scoring.quantized`): the result then holds every index whose true score can reach
    the true k-th best. The k-th best value comes from `np.partition` (values only, several
    times faster than argpartition), then one comparison pass collects the indices. For
    many scores the k-th best of a strided sample, which can only be lower than the true
    k-th best, first narrows the search to a small superset of the answer.
    """
    n = scores.size
    if k >= n:
        return np.arange(n)
    sample = scores[::SAMPLE_STRIDE]
    if n >= SAMPLE_MIN_ITEMS and sample.size > 4 * k:
        floor = np.partition(sample, sample.size - k)[sample.size - k]
        pool = np.flatnonzero(scores >= floor - margin)
        values = scores[pool]
        kth = np.partition(values, values.size - k)[values.size - k]
        return pool[values >= kth - margin]
    kth = np.partition(scores, n - k)[n - k]
    return np.flatnonzero(scores >= kth - margin)
