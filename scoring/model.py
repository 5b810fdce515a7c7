"""Load one published model version for serving, or refuse to.

Every file is read once through `mlrelease.store.artifact.read_verified`, which checks it against
the sha256 and size in manifest.json, and the arrays are then checked against each other
(shapes, dtypes, id maps, the seen-items matrix), so a worker either serves exactly the
model that training published or does not serve at all. Arrays are parsed with
`allow_pickle=False`: a model file can never run code in the server.
"""

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrelease.store import artifact
from mlrelease.store.artifact import ModelCorruptError
from mlrelease.store.modelfiles import ARRAYS
from scoring.recommender import Recommender


@dataclass(frozen=True)
class LoadedModel:
    """A verified model version: its manifest, the scorer and the external id maps."""

    manifest: dict[str, Any]
    recommender: Recommender
    user_ids: list[str]
    item_ids: list[str]
    user_index: dict[str, int]
    item_index: dict[str, int]

    @property
    def version(self) -> str:
        return str(self.manifest.get("versionId", ""))


def _corrupt(model_uri: str, name: str, problem: str) -> ModelCorruptError:
    return ModelCorruptError(f"{model_uri}/{name}: {problem}; republish this model version")


def _array(model_uri: str, files: dict[str, bytes], name: str) -> np.ndarray:
    if name not in files:
        raise _corrupt(model_uri, name, "missing from the model version")
    try:
        return np.load(io.BytesIO(files[name]), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise _corrupt(model_uri, name, f"not a readable .npy array ({error})") from error


def _ids(model_uri: str, files: dict[str, bytes], name: str) -> list[str]:
    if name not in files:
        raise _corrupt(model_uri, name, "missing from the model version")
    try:
        ids = json.loads(files[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(model_uri, name, f"not a JSON list of ids ({error})") from error
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _corrupt(model_uri, name, "expected a JSON list of id strings")
    if len(set(ids)) != len(ids):
        raise _corrupt(model_uri, name, "holds duplicate ids")
    return ids


def _expect(model_uri: str, name: str, array: np.ndarray, dtype: str, shape: tuple) -> None:
    if array.dtype != np.dtype(dtype) or array.shape != shape:
        raise _corrupt(
            model_uri,
            name,
            f"expected {dtype} {shape}, found {array.dtype} {array.shape}",
        )


def build(model_uri: str, manifest: dict[str, Any], files: dict[str, bytes]) -> LoadedModel:
    """Check the arrays of a verified version against each other and build the scorer."""
    a = {name: _array(model_uri, files, name) for name in ARRAYS}
    user_ids = _ids(model_uri, files, "user_ids.json")
    item_ids = _ids(model_uri, files, "item_ids.json")
    n_users, n_items = len(user_ids), len(item_ids)
    user_emb, item_emb = a["user_embeddings.npy"], a["item_embeddings.npy"]
    if user_emb.ndim != 2 or item_emb.ndim != 2:
        raise _corrupt(model_uri, "user_embeddings.npy", "embeddings must be 2-dimensional")
    d = user_emb.shape[1]
    _expect(model_uri, "user_embeddings.npy", user_emb, "float32", (n_users, d))
    _expect(model_uri, "item_embeddings.npy", item_emb, "float32", (n_items, d))
    _expect(model_uri, "user_biases.npy", a["user_biases.npy"], "float32", (n_users,))
    _expect(model_uri, "item_biases.npy", a["item_biases.npy"], "float32", (n_items,))
    _expect(model_uri, "item_popularity.npy", a["item_popularity.npy"], "float32", (n_items,))
    indptr, indices = a["seen_indptr.npy"], a["seen_indices.npy"]
    _expect(model_uri, "seen_indptr.npy", indptr, "int64", (n_users + 1,))
    if indices.dtype != np.int32 or indices.ndim != 1:
        raise _corrupt(model_uri, "seen_indices.npy", f"expected 1-d int32, found {indices.dtype}")
    if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
        raise _corrupt(model_uri, "seen_indptr.npy", "is not a valid CSR row pointer")
    if indices.size and (indices.min() < 0 or indices.max() >= n_items):
        raise _corrupt(model_uri, "seen_indices.npy", "refers to items outside item_ids.json")
    for name in ARRAYS[:4]:
        if not np.all(np.isfinite(a[name])):
            raise _corrupt(model_uri, name, "holds NaN or infinite values")
    recommender = Recommender(
        user_embeddings=user_emb,
        user_biases=a["user_biases.npy"],
        item_embeddings=item_emb,
        item_biases=a["item_biases.npy"],
        seen_indptr=indptr,
        seen_indices=indices,
        item_popularity=a["item_popularity.npy"],
    )
    return LoadedModel(
        manifest=manifest,
        recommender=recommender,
        user_ids=user_ids,
        item_ids=item_ids,
        user_index={u: i for i, u in enumerate(user_ids)},
        item_index={t: i for i, t in enumerate(item_ids)},
    )


def load(model_uri: str, expected_version: str | None = None) -> LoadedModel:
    """Read, verify and check the model version at `model_uri`.

    Raises `ModelNotReadyError` while the version is not published yet and
    `ModelCorruptError` when any file fails its digest or the arrays disagree.
    """
    manifest, files = artifact.read_verified(model_uri)
    model = build(model_uri, manifest, files)
    if expected_version and model.version != expected_version:
        raise _corrupt(
            model_uri,
            artifact.MANIFEST,
            f"holds version {model.version!r} but MODEL_VERSION is {expected_version!r}",
        )
    return model
