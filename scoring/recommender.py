"""Top-k recommendations and pair scores over a LightFM model's exported arrays.

Serving needs no LightFM: with no side features a LightFM score is
`dot(user_embedding, item_embedding) + user_bias + item_bias`. A request reads the item
matrix once, in one compiled pass (`_scan_rows`) that scores each item and keeps only those
that can still be among the k best, then sorts those few. The user bias does not change a
user's ranking, so it is added to the k returned scores only. Ties are broken by item index,
so answers are exact, deterministic and match a stable full sort.

Why a compiled pass and not numpy: OpenBLAS's sgemv over an item-major (n_items x 64)
float32 matrix streams at 50-70% of one core's read bandwidth, in cache-sized blocks of
rows no faster, and the score vector it writes must then be read again to select the k
best. A factor-major layout read by sgemv_n reaches about 77%, not enough to publish the
items differently. Numba's loop over contiguous rows (the dot vectorised over the factors,
the bias added, one comparison with the running threshold) streams at about 90% and writes
nothing model-sized (`bench/scan.py`). Its cost is constant, not per model: compiling
takes about half a second and LLVM some 55 MB in the process that does it, which in a pod
is the gunicorn master, whose workers share those pages.

The arrays are used as they are given, typically read-only memory maps of the model files
that every worker of a pod shares (see `scoring.model`): nothing here copies, transposes
or widens a model-sized array, so a worker's private memory does not grow with the model.
The item matrix is scanned item-major, as published (n_items x factors, contiguous rows of
`factors` floats).
"""

from typing import NamedTuple

import numba
import numpy as np

# Room for this many candidates (or 4k) before the running k-th best is raised and the
# candidates below it dropped: large enough that the raise happens once or twice a request,
# small enough to stay in L1 with the scores it holds.
CANDIDATES = 1024
# Above this many candidates (a large k, or many scores tied with the k-th best) numpy
# orders them; below it a Python sort of a few (score, index) pairs is cheaper.
PYTHON_SORT_MAX = 256


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


class TopK(NamedTuple):
    """Internal item indices, best first, and their scores.

    Plain lists: k is small, and a list is what the caller serialises, so converting here
    once saves a request several numpy calls.
    """

    items: list[int]
    scores: list[float]


class Recommender:
    """Framework-free scorer for one model version (internal integer indices only)."""

    def __init__(
        self,
        *,
        user_embeddings: np.ndarray,
        user_biases: np.ndarray,
        item_embeddings: np.ndarray,
        item_biases: np.ndarray,
        seen_indptr: np.ndarray,
        seen_indices: np.ndarray,
        item_popularity: np.ndarray,
    ) -> None:
        n_users = user_embeddings.shape[0]
        n_items = item_embeddings.shape[0]
        self.n_users = n_users
        self.n_items = n_items
        # Views, not copies: numba takes plain ndarrays, and np.load's memory maps are a
        # subclass of it; the views keep the maps open.
        self._user_embeddings = np.asarray(user_embeddings)
        self._user_biases = user_biases
        self._item_embeddings = np.asarray(item_embeddings)
        self._item_biases = np.asarray(item_biases)
        self._indptr = seen_indptr
        self._indices = seen_indices
        # Most popular first; ties go to the lower index so answers are stable. int32 keeps
        # this per-worker array at 4 bytes an item.
        order = np.lexsort((np.arange(n_items), -np.asarray(item_popularity, dtype=np.float32)))
        self._popular = order.astype(np.int32)
        self._popularity = item_popularity
        # Compile the scan for these arrays' types now, over no items (about half a second,
        # once per process): in a pod the gunicorn master builds the recommender before it
        # forks, so no worker and no first request pays for it.
        if n_users:
            _scan_rows(
                self._item_embeddings[:0],
                self._user_embeddings[0],
                self._item_biases[:0],
                np.sort(self.seen(0)),
                0,
                np.float32(-np.inf),
                np.empty(1, dtype=np.int64),
                np.empty(1, dtype=np.float32),
                0,
            )

    def seen(self, user: int) -> np.ndarray:
        """Internal indices of the items this user interacted with in the training data."""
        return self._indices[self._indptr[user] : self._indptr[user + 1]]

    def recommend(self, user: int, k: int) -> TopK:
        """The user's k best unseen items (fewer if fewer are unseen), best first."""
        seen = self.seen(user)
        if self.n_items - seen.size < k:
            # Only then can k exceed the unseen items; seen entries may repeat an item.
            k = min(k, self.n_items - np.unique(seen).size)
        if k <= 0:
            return TopK([], [])
        top, scores = self._candidates(self._user_embeddings[user], seen, k)
        bias = float(self._user_biases[user])
        # Best score first; equal scores in index order, as a stable full sort would give.
        if top.size > PYTHON_SORT_MAX:
            order = np.lexsort((top, -scores))[:k]
            return TopK(top[order].tolist(), [bias + score for score in scores[order].tolist()])
        ranked = sorted(zip((-scores).tolist(), top.tolist(), strict=True))[:k]
        return TopK([item for _, item in ranked], [bias - negated for negated, _ in ranked])

    def _candidates(
        self, vector: np.ndarray, seen: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every unseen item scoring at least the k-th best unseen score, and its score.

        That is k items, or more on ties: taking every item tied with the k-th score, not
        an arbitrary subset, lets the final sort prefer lower indices exactly as a stable
        full sort would. The scan keeps the unseen items that reach a running threshold;
        when its buffer is full, the threshold is raised to the k-th best score kept so
        far, which can only be below the final k-th best, so no item of the answer is ever
        dropped. After the first thousand items almost every item fails that one
        comparison, so the buffer is refilled once or twice a request.
        """
        capacity = max(CANDIDATES, 4 * k)
        items = np.empty(capacity, dtype=np.int64)
        scores = np.empty(capacity, dtype=np.float32)
        seen = np.sort(seen)
        threshold = np.float32(-np.inf)
        filled = start = 0
        while True:
            filled, start = _scan_rows(
                self._item_embeddings,
                vector,
                self._item_biases,
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
            if start == self.n_items:
                return kept, kept_scores
            filled = kept.size
            if filled > capacity // 2:
                # Many scores tie with the k-th best: grow, so each pass still adds items.
                capacity *= 2
                items = np.empty(capacity, dtype=np.int64)
                scores = np.empty(capacity, dtype=np.float32)
            items[:filled] = kept
            scores[:filled] = kept_scores

    def popular(self, k: int) -> TopK:
        """The k most popular items in the training data, for users the model never saw."""
        top = self._popular[:k]
        return TopK(top.tolist(), self._popularity[top].tolist())

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """LightFM scores for (user, item) index pairs, element by element."""
        dots = np.einsum("ij,ij->i", self._user_embeddings[users], self._item_embeddings[items])
        return (dots + self._user_biases[users] + self._item_biases[items]).astype(np.float32)
