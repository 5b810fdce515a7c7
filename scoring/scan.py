"""The compiled top-k scan, for catalogues large enough that the scan is a request's cost.

One numba-compiled pass over the item matrix's contiguous rows (`_scan_rows`) scores each
item (the dot vectorised over the factors, the item bias added) and keeps only those that
reach a running threshold, so it writes nothing model-sized and reads the matrix once.
OpenBLAS's sgemv over an item-major (n_items x 64) float32 matrix streams at 50-70% of one
core's read bandwidth (in cache-sized blocks of rows no faster), and the score vector it
writes must then be read again to select the k best; a factor-major layout read by sgemv_n
reaches about 77%, not enough to publish the items differently. This pass streams at about
90% (`bench/scan.py`).

Its cost is constant, not per model: importing numba and compiling take about a second
and LLVM some 150 MiB in the process that does it (in a pod the gunicorn master, whose
workers share the pages), which is why `scoring.recommender` loads this module only for
catalogues where the scan dominates.
"""

import numba
import numpy as np

# Room for this many candidates (or 4k) before the running k-th best is raised and the
# candidates below it dropped: large enough that the raise happens once or twice a request,
# small enough to stay in L1 with the scores it holds.
CANDIDATES = 1024


@numba.njit(boundscheck=False, nogil=True, cache=False)
def _contains(sorted_values: np.ndarray, value: int) -> bool:
    """Whether `value` is in the ascending array (a binary search)."""
    low, high = 0, sorted_values.size
    while low < high:
        middle = (low + high) // 2
        if sorted_values[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low < sorted_values.size and sorted_values[low] == value


@numba.njit(fastmath={"reassoc", "contract"}, boundscheck=False, nogil=True, cache=False)
def _scan_rows(
    items: np.ndarray,
    vector: np.ndarray,
    biases: np.ndarray,
    seen: np.ndarray,
    start: int,
    threshold: np.float32,
    out_items: np.ndarray,
    out_scores: np.ndarray,
    filled: int,
) -> tuple[int, int]:
    """Append every unseen item from `start` on scoring at least `threshold`, until out is full.

    `seen` is ascending; it is searched only for the few items that reach the threshold.
    Returns the number of filled slots and the first row not yet scanned (n_items when
    done). Only the dot product may be reordered ("reassoc" lets it use SIMD lanes,
    "contract" fused multiply-adds); infinities and NaN keep their IEEE meaning, so a
    threshold of -inf admits every finite score. nogil: a gthread worker's other threads
    run while one request scans.
    """
    n, d = items.shape
    for i in range(start, n):
        score = np.float32(0)
        for j in range(d):
            score += items[i, j] * vector[j]
        score += biases[i]
        if score >= threshold and not _contains(seen, i):
            out_items[filled] = i
            out_scores[filled] = score
            filled += 1
            if filled == out_items.size:
                return filled, i + 1
    return filled, n


def compile_for(
    items: np.ndarray, vector: np.ndarray, biases: np.ndarray, seen: np.ndarray
) -> None:
    """Compile the scan for these arrays' types now, over no items (once per process), so no
    request pays for it; in a pod the gunicorn master does it before it forks."""
    _scan_rows(
        items[:0],
        vector,
        biases[:0],
        np.sort(seen),
        0,
        np.float32(-np.inf),
        np.empty(1, dtype=np.int64),
        np.empty(1, dtype=np.float32),
        0,
    )


def candidates(
    item_embeddings: np.ndarray,
    item_biases: np.ndarray,
    vector: np.ndarray,
    seen: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Every unseen item scoring at least the k-th best unseen score, and its score.

    The scan keeps the unseen items that reach a running threshold; when its buffer is
    full, the threshold is raised to the k-th best score kept so far, which can only be
    below the final k-th best, so no item of the answer is ever dropped. After the first
    thousand items almost every item fails that one comparison, so the buffer is refilled
    once or twice a request. Every item tied with the k-th score is kept.
    """
    n_items = item_embeddings.shape[0]
    capacity = max(CANDIDATES, 4 * k)
    items = np.empty(capacity, dtype=np.int64)
    scores = np.empty(capacity, dtype=np.float32)
    seen = np.sort(seen)
    threshold = np.float32(-np.inf)
    filled = start = 0
    while True:
        filled, start = _scan_rows(
            item_embeddings,
            vector,
            item_biases,
            seen,
            start,
            threshold,
            items,
            scores,
            filled,
        )
        kept, kept_scores = items[:filled], scores[:filled]
        if filled >= k:
            threshold = np.partition(kept_scores, filled - k)[filled - k]
            best = kept_scores >= threshold
            kept, kept_scores = kept[best], kept_scores[best]
        if start == n_items:
            return kept, kept_scores
        filled = kept.size
        if filled > capacity // 2:
            # Many scores tie with the k-th best: grow, so each pass still adds items.
            capacity *= 2
            items = np.empty(capacity, dtype=np.int64)
            scores = np.empty(capacity, dtype=np.float32)
        items[:filled] = kept
        scores[:filled] = kept_scores
