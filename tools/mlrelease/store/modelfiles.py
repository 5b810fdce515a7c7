"""The files of a model version: what `training` writes and `scoring` checks, defined once.

Each array is named with its dtype and its shape in terms of the model's dimensions
(`users`, `items`, `factors`, `seen` = stored interactions), so the trainer writes through
these specs and the scorer checks every file against them: neither spells a file name or a
dtype of its own. Plain data, no numpy: the CLI and the store never load arrays.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ArrayFile:
    """One `.npy` file: its name, dtype and symbolic shape."""

    name: str
    dtype: str
    shape: tuple[str, ...]
    # Factors are checked for NaN and infinities; index arrays are checked as a CSR matrix.
    finite: bool = False

    def expected_shape(self, dims: dict[str, int]) -> tuple[int, ...]:
        """The concrete shape for these dimensions; `users+1` is the CSR row pointer."""
        return tuple(dims[d[:-2]] + 1 if d.endswith("+1") else dims[d] for d in self.shape)


USER_EMBEDDINGS = ArrayFile("user_embeddings.npy", "float32", ("users", "factors"), finite=True)
USER_BIASES = ArrayFile("user_biases.npy", "float32", ("users",), finite=True)
ITEM_EMBEDDINGS = ArrayFile("item_embeddings.npy", "float32", ("items", "factors"), finite=True)
ITEM_BIASES = ArrayFile("item_biases.npy", "float32", ("items",), finite=True)
# The seen-items matrix (users x items) in CSR form: serving never recommends a seen item.
SEEN_INDPTR = ArrayFile("seen_indptr.npy", "int64", ("users+1",))
SEEN_INDICES = ArrayFile("seen_indices.npy", "int32", ("seen",))
# Interactions per item: the cold-start ranking for users the model has never seen.
ITEM_POPULARITY = ArrayFile("item_popularity.npy", "float32", ("items",))

ARRAYS = (
    USER_EMBEDDINGS,
    USER_BIASES,
    ITEM_EMBEDDINGS,
    ITEM_BIASES,
    SEEN_INDPTR,
    SEEN_INDICES,
    ITEM_POPULARITY,
)
# External ids as JSON lists of strings; the position is the internal index.
USER_IDS = "user_ids.json"
ITEM_IDS = "item_ids.json"
ID_MAPS = (USER_IDS, ITEM_IDS)
FILE_NAMES = tuple(array.name for array in ARRAYS) + ID_MAPS
