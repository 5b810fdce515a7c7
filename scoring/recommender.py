"""Top-k recommendations and pair scores over a LightFM model's exported arrays.

Serving needs no LightFM: with no side features a LightFM score is
`dot(user_embedding, item_embedding) + user_bias + item_bias`. A request costs one
matrix-vector product over the item matrix, a partial selection of the k best (no full
sort) and a sort of only those k. The user bias does not change a user's ranking, so it is
added to the k returned scores only. Ties are broken by item index, so answers are
deterministic and match a stable full sort.

The arrays are used as they are given, typically read-only memory maps of the model files
that every worker of a pod shares (see `scoring.model`): nothing here copies, transposes
or widens a model-sized array, so a worker's private memory does not grow with the model.
The item matrix is scanned item-major, as published (n_items x factors, contiguous rows of
`factors` floats), which BLAS streams at the memory bandwidth (`bench/scan.py`).
"""

from typing import NamedTuple

import numpy as np

# One score in 16 estimates a safe lower bound for the k-th best score (see _candidates).
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
        self._user_embeddings = user_embeddings
        self._user_biases = user_biases
        self._item_embeddings = item_embeddings
        self._item_biases = item_biases
        self._indptr = seen_indptr
        self._indices = seen_indices
        # Most popular first; ties go to the lower index so answers are stable. int32 keeps
        # this per-worker array at 4 bytes an item.
        order = np.lexsort((np.arange(n_items), -np.asarray(item_popularity, dtype=np.float32)))
        self._popular = order.astype(np.int32)
        self._popularity = item_popularity

    def seen(self, user: int) -> np.ndarray:
        """Internal indices of the items this user interacted with in the training data."""
        return self._indices[self._indptr[user] : self._indptr[user + 1]]

    def recommend(self, user: int, k: int) -> TopK:
        """The user's k best unseen items (fewer if fewer are unseen), best first."""
        scores = self._item_embeddings @ self._user_embeddings[user]
        scores += self._item_biases
        seen = self.seen(user)
        scores[seen] = -np.inf
        if self.n_items - seen.size < k:
            # Only then can k exceed the unseen items; seen entries may repeat an item.
            k = min(k, self.n_items - np.unique(seen).size)
        if k <= 0:
            return TopK([], [])
        top = self._candidates(scores, k)
        bias = float(self._user_biases[user])
        # Best score first; equal scores in index order, as a stable full sort would give.
        if top.size > PYTHON_SORT_MAX:
            top = top[np.lexsort((top, -scores[top]))][:k]
            return TopK(top.tolist(), [bias + score for score in scores[top].tolist()])
        ranked = sorted(zip((-scores[top]).tolist(), top.tolist(), strict=True))[:k]
        return TopK([item for _, item in ranked], [bias - negated for negated, _ in ranked])

    @staticmethod
    def _candidates(scores: np.ndarray, k: int) -> np.ndarray:
        """Every item scoring at least the k-th best score (k, or more on ties).

        The k-th best value comes from `np.partition` (values only, several times faster
        than argpartition), then one comparison pass collects the items. Taking every item
        tied with the k-th score, not an arbitrary subset, lets the final sort prefer lower
        indices exactly as a stable full sort would. For large catalogues the k-th best of
        a strided sample, which can only be lower than the true k-th best, first narrows
        the search to a small superset of the answer.
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
