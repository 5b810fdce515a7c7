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
from mlrelease.store import modelfiles as files
from mlrelease.store.artifact import ModelCorruptError
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


def _array(model_uri: str, blobs: dict[str, bytes], name: str) -> np.ndarray:
    if name not in blobs:
        raise _corrupt(model_uri, name, "missing from the model version")
    try:
        return np.load(io.BytesIO(blobs[name]), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise _corrupt(model_uri, name, f"not a readable .npy array ({error})") from error


def _ids(model_uri: str, blobs: dict[str, bytes], name: str) -> list[str]:
    if name not in blobs:
        raise _corrupt(model_uri, name, "missing from the model version")
    try:
        ids = json.loads(blobs[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(model_uri, name, f"not a JSON list of ids ({error})") from error
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _corrupt(model_uri, name, "expected a JSON list of id strings")
    if len(set(ids)) != len(ids):
        raise _corrupt(model_uri, name, "holds duplicate ids")
    return ids


def _expect(model_uri: str, spec: files.ArrayFile, array: np.ndarray, dims: dict) -> None:
    shape = spec.expected_shape(dims)
    if array.dtype != np.dtype(spec.dtype) or array.shape != shape:
        raise _corrupt(
            model_uri,
            spec.name,
            f"expected {spec.dtype} {shape}, found {array.dtype} {array.shape}",
        )


def build(model_uri: str, manifest: dict[str, Any], blobs: dict[str, bytes]) -> LoadedModel:
    """Check the arrays of a verified version against each other and build the scorer."""
    a = {spec: _array(model_uri, blobs, spec.name) for spec in files.ARRAYS}
    user_ids = _ids(model_uri, blobs, files.USER_IDS)
    item_ids = _ids(model_uri, blobs, files.ITEM_IDS)
    user_emb = a[files.USER_EMBEDDINGS]
    if user_emb.ndim != 2:
        raise _corrupt(model_uri, files.USER_EMBEDDINGS.name, "embeddings must be 2-dimensional")
    dims = {
        "users": len(user_ids),
        "items": len(item_ids),
        "factors": user_emb.shape[1],
        "seen": a[files.SEEN_INDICES].size,
    }
    for spec, array in a.items():
        _expect(model_uri, spec, array, dims)
    indptr, indices = a[files.SEEN_INDPTR], a[files.SEEN_INDICES]
    if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
        raise _corrupt(model_uri, files.SEEN_INDPTR.name, "is not a valid CSR row pointer")
    if indices.size and (indices.min() < 0 or indices.max() >= dims["items"]):
        raise _corrupt(
            model_uri, files.SEEN_INDICES.name, f"refers to items outside {files.ITEM_IDS}"
        )
    for spec in files.ARRAYS:
        if spec.finite and not np.all(np.isfinite(a[spec])):
            raise _corrupt(model_uri, spec.name, "holds NaN or infinite values")
    recommender = Recommender(
        user_embeddings=user_emb,
        user_biases=a[files.USER_BIASES],
        item_embeddings=a[files.ITEM_EMBEDDINGS],
        item_biases=a[files.ITEM_BIASES],
        seen_indptr=indptr,
        seen_indices=indices,
        item_popularity=a[files.ITEM_POPULARITY],
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
    manifest, blobs = artifact.read_verified(model_uri)
    model = build(model_uri, manifest, blobs)
    if expected_version and model.version != expected_version:
        raise _corrupt(
            model_uri,
            artifact.MANIFEST,
            f"holds version {model.version!r} but MODEL_VERSION is {expected_version!r}",
        )
    return model
