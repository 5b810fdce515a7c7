"""Top-k recommendations and pair scores over a LightFM model's exported arrays.

Serving needs no LightFM: with no side features a LightFM score is
`dot(user_embedding, item_embedding) + user_bias + item_bias`. A request scores every item
once, keeps those that can be among the k best, then sorts those few. The user bias does
not change a user's ranking, so it is added to the k returned scores only. Ties are broken
by item index, so answers are exact, deterministic and match a stable full sort.

How it scores: a large catalogue (an item matrix of COMPILED_SCAN_MIN_BYTES or more) is
scanned by the compiled pass of `scoring.scan`, which streams the matrix at about 90% of
one core's read bandwidth; a smaller one by one BLAS product, a sampled bound and a
partition (about 60% at 200k items). The compiled pass costs a constant ~150 MiB of LLVM
per pod and a second to compile, worth paying only where the scan is most of a request:
below the bar numba is never imported.

The arrays are used as they are given, typically read-only memory maps of the model files
that every worker of a pod shares (see `scoring.model`): nothing here copies, transposes
or widens a model-sized array, so a worker's private memory does not grow with the model.
The item matrix is scanned item-major, as published (n_items x factors, contiguous rows of
`factors` floats).
"""

from typing import NamedTuple

import numpy as np

# From this size of item matrix on (about 520k items of 64 factors) the compiled scan is used.
COMPILED_SCAN_MIN_BYTES = 128 * 1024 * 1024
# Below the bar: one score in 16 estimates a safe lower bound for the k-th best (_best_of).
SAMPLE_STRIDE = 16
# Below this many items one partition of all scores is cheaper than the extra numpy calls.
SAMPLE_MIN_ITEMS = 32768
# Above this many candidates (a large k, or many scores tied with the k-th best) numpy
# orders them; below it a Python sort of a few (score, index) pairs is cheaper.
PYTHON_SORT_MAX = 256


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
        self._scan = None
        if self._item_embeddings.nbytes >= COMPILED_SCAN_MIN_BYTES:
            from scoring import scan

            self._scan = scan
            if n_users:
                scan.compile_for(
                    self._item_embeddings,
                    self._user_embeddings[0],
                    self._item_biases,
                    self.seen(0),
                )

    @property
    def compiled_scan(self) -> bool:
        """Whether requests take the compiled scan (a catalogue past the size bar)."""
        return self._scan is not None

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
        full sort would. Seen items score -inf here; k never exceeds the unseen items.
        """
        if self._scan is not None:
            return self._scan.candidates(self._item_embeddings, self._item_biases, vector, seen, k)
        scores = self._item_embeddings @ vector
        scores += self._item_biases
        scores[seen] = -np.inf
        top = self._best_of(scores, k)
        return top, scores[top]

    @staticmethod
    def _best_of(scores: np.ndarray, k: int) -> np.ndarray:
        """Every item scoring at least the k-th best score (k, or more on ties).

        The k-th best value comes from `np.partition` (values only, several times faster
        than argpartition), then one comparison pass collects the items. For large
        catalogues the k-th best of a strided sample, which can only be lower than the true
        k-th best, first narrows the search to a small superset of the answer.
        """
        n = scores.size
        if k >= n:
            return np.arange(n)
        sample = scores[::SAMPLE_STRIDE]
        if n >= SAMPLE_MIN_ITEMS and sample.size > 4 * k:
            floor = np.partition(sample, sample.size - k)[sample.size - k]
            pool = np.flatnonzero(scores >= floor)
            values = scores[pool]
            kth = np.partition(values, values.size - k)[values.size - k]
            return pool[values >= kth]
        kth = np.partition(scores, n - k)[n - k]
        return np.flatnonzero(scores >= kth)

    def popular(self, k: int) -> TopK:
        """The k most popular items in the training data, for users the model never saw."""
        top = self._popular[:k]
        return TopK(top.tolist(), self._popularity[top].tolist())

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """LightFM scores for (user, item) index pairs, element by element."""
        dots = np.einsum("ij,ij->i", self._user_embeddings[users], self._item_embeddings[items])
        return (dots + self._user_biases[users] + self._item_biases[items]).astype(np.float32)
