"""Top-k recommendations and pair scores over a LightFM model's exported arrays.

Serving needs no LightFM: with no side features a LightFM score is
`dot(user_embedding, item_embedding) + user_bias + item_bias`. A request scores every item
once, keeps those that can be among the k best, then sorts those few. The user bias does
not change a user's ranking, so it is added to the k returned scores only. Ties are broken
by item index, so answers are exact, deterministic and match a stable full sort.

How it scores: a large catalogue (QUANTIZED_MIN_ITEMS or more) is narrowed by an int8
copy of its items and the few candidates rescored exactly (`scoring.quantized`); a
smaller one, whose float32 items stay in cache, by one BLAS product, a sampled bound and
a partition.

The arrays are used as they are given, typically read-only memory maps of the model files
that every worker of a pod shares (see `scoring.model`): nothing here copies, transposes
or widens a model-sized array, so a worker's private memory does not grow with the model.
The item matrix is scanned item-major, as published (n_items x factors, contiguous rows of
`factors` floats).
"""

from typing import NamedTuple

import numpy as np

from scoring.quantized import QuantizedItems
from scoring.topk import best_of

# From this many items on, requests are narrowed by the int8 copy (scoring.quantized): below
# it the float32 items (8 MB at 64 factors) stay in the last-level cache and one BLAS
# product is as fast.
QUANTIZED_MIN_ITEMS = 32768
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
        # Views, not copies: np.load's memory maps are a subclass of ndarray, and plain
        # views keep the maps open.
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
        self._quantized = (
            QuantizedItems(self._item_embeddings, self._item_biases)
            if n_items >= QUANTIZED_MIN_ITEMS
            else None
        )

    @property
    def quantized(self) -> bool:
        """Whether requests are narrowed by the int8 copy of the items (a large catalogue)."""
        return self._quantized is not None

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
        if self._quantized is not None:
            found = self._quantized.candidates(vector, seen, k)
            if found is not None:
                chosen, exact = found
                top = best_of(exact, k)
                return chosen[top], exact[top]
        scores = self._item_embeddings @ vector
        scores += self._item_biases
        scores[seen] = -np.inf
        top = best_of(scores, k)
        return top, scores[top]

    def popular(self, k: int) -> TopK:
        """The k most popular items in the training data, for users the model never saw."""
        top = self._popular[:k]
        return TopK(top.tolist(), self._popularity[top].tolist())

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """LightFM scores for (user, item) index pairs, element by element."""
        dots = np.einsum("ij,ij->i", self._user_embeddings[users], self._item_embeddings[items])
        return (dots + self._user_biases[users] + self._item_biases[items]).astype(np.float32)
