"""The files of a LightFM model version: what `training` writes and `scoring` reads.

Kept apart from the training code so the scoring service can import the file set
without importing LightFM.
"""

# Factor arrays (float32), then the seen-items CSR matrix and popularity for cold start.
ARRAYS = (
    "user_embeddings.npy",
    "user_biases.npy",
    "item_embeddings.npy",
    "item_biases.npy",
    "seen_indptr.npy",
    "seen_indices.npy",
    "item_popularity.npy",
)
# External ids as JSON lists; the position is the internal index.
ID_MAPS = ("user_ids.json", "item_ids.json")
FILE_NAMES = ARRAYS + ID_MAPS
