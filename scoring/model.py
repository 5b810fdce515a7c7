"""Load one published model version for serving, or refuse to.

In a pod the model is a local folder: the init container (`mlrelease model wait --into`)
copied and verified it once per pod. Each worker verifies every file against the sha256
and size in manifest.json again, streaming, then maps the arrays read-only
(`np.load(mmap_mode="r")`): the pages are the page cache's, shared by every worker, and
nothing model-sized is copied. A store URI (a developer's `az://...`) is read into memory
instead. Either way the arrays are then checked against each other (shapes, dtypes, id
maps, the seen-items matrix), so a worker serves exactly the model that training published
or nothing at all. Arrays are parsed with `allow_pickle=False`: a model file can never run
code in the server.
"""

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mlrelease.store import artifact, open_store
from mlrelease.store import modelfiles as files
from mlrelease.store.artifact import ModelCorruptError
from mlrelease.store.local import LocalStore
from scoring.recommender import Recommender

# Finite checks walk a mapped array in blocks of this many values, so a check never
# allocates a model-sized temporary.
_CHECK_BLOCK = 1 << 22


class IdMap:
    """External ids <-> internal indices in two numpy arrays, not a Python object per id.

    A dict of a million ids costs a worker over 100 MB of private memory; this costs the
    ids' bytes plus 4 bytes each. ASCII ids (the usual case) are stored as bytes, others as
    fixed-width unicode. Lookups are a binary search over the ids in sorted order.
    """

    def __init__(self, ids: list[str]) -> None:
        try:
            self._ids = np.array(ids, dtype=np.bytes_) if ids else np.array([], "S1")
            self._encode: Callable[[str], Any] = _ascii
        except UnicodeEncodeError:
            self._ids = np.array(ids, dtype=np.str_)
            self._encode = str
        self._order = np.argsort(self._ids, kind="stable").astype(np.int32)
        self._decode = bytes.decode if self._ids.dtype.kind == "S" else str
        self.index = _Index(self)

    def find(self, external: str) -> int | None:
        """The internal index of `external`, or None when the model does not know it."""
        try:
            key = self._encode(external)
        except UnicodeEncodeError:
            return None
        position = int(np.searchsorted(self._ids, key, sorter=self._order))
        if position < self._order.size:
            index = int(self._order[position])
            if self._ids[index] == key:
                return index
        return None

    def has_duplicates(self) -> bool:
        """Whether an id appears twice (then a lookup could not be exact)."""
        ordered = self._ids[self._order]
        return bool((ordered[1:] == ordered[:-1]).any())

    def __getitem__(self, index: int) -> str:
        return self._decode(self._ids[index])

    def __len__(self) -> int:
        return int(self._ids.size)

    def __iter__(self) -> Iterator[str]:
        return (self._decode(value) for value in self._ids)

    def tolist(self) -> list[str]:
        return list(self)


class _Index:
    """The external id -> index direction of an `IdMap`, read like the dict it replaces."""

    def __init__(self, ids: IdMap) -> None:
        self._ids = ids

    def get(self, external: str, default: int | None = None) -> int | None:
        found = self._ids.find(external)
        return default if found is None else found

    def __contains__(self, external: object) -> bool:
        return isinstance(external, str) and self._ids.find(external) is not None

    def __getitem__(self, external: str) -> int:
        found = self._ids.find(external)
        if found is None:
            raise KeyError(external)
        return found

    def __len__(self) -> int:
        return len(self._ids)


def _ascii(text: str) -> bytes:
    return text.encode("ascii")


@dataclass(frozen=True)
class LoadedModel:
    """A verified model version: its manifest, the scorer and the external id maps."""

    manifest: dict[str, Any]
    recommender: Recommender
    user_ids: IdMap
    item_ids: IdMap

    @property
    def user_index(self) -> _Index:
        return self.user_ids.index

    @property
    def item_index(self) -> _Index:
        return self.item_ids.index

    @property
    def version(self) -> str:
        return str(self.manifest.get("versionId", ""))


def _corrupt(model_uri: str, name: str, problem: str) -> ModelCorruptError:
    return ModelCorruptError(f"{model_uri}/{name}: {problem}; republish this model version")


# A model file's content: the bytes read from a store, or a verified local file to map.
Blob = bytes | Path


def _array(model_uri: str, blobs: dict[str, Blob], name: str) -> np.ndarray:
    if name not in blobs:
        raise _corrupt(model_uri, name, "missing from the model version")
    blob = blobs[name]
    try:
        if isinstance(blob, Path):
            # A plain ndarray view of the map: the same shared pages, without the memmap
            # subclass's overhead on every operation.
            array = np.asarray(np.load(blob, mmap_mode="r", allow_pickle=False))
        else:
            array = np.load(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise _corrupt(model_uri, name, f"not a readable .npy array ({error})") from error
    if array.ndim > 1 and not array.flags.c_contiguous:
        # Fortran order would make every scan stride across rows (or force a copy).
        raise _corrupt(model_uri, name, "must be stored in C order")
    return array


def _ids(model_uri: str, blobs: dict[str, Blob], name: str) -> "IdMap":
    if name not in blobs:
        raise _corrupt(model_uri, name, "missing from the model version")
    blob = blobs[name]
    try:
        data = blob.read_bytes() if isinstance(blob, Path) else blob
        ids = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise _corrupt(model_uri, name, f"not a JSON list of ids ({error})") from error
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _corrupt(model_uri, name, "expected a JSON list of id strings")
    mapped = IdMap(ids)
    if mapped.has_duplicates():
        raise _corrupt(model_uri, name, "holds duplicate ids")
    return mapped


def _expect(model_uri: str, spec: files.ArrayFile, array: np.ndarray, dims: dict) -> None:
    shape = spec.expected_shape(dims)
    if array.dtype != np.dtype(spec.dtype) or array.shape != shape:
        raise _corrupt(
            model_uri,
            spec.name,
            f"expected {spec.dtype} {shape}, found {array.dtype} {array.shape}",
        )


def _all_finite(array: np.ndarray) -> bool:
    flat = array.reshape(-1)
    return all(
        bool(np.isfinite(flat[start : start + _CHECK_BLOCK]).all())
        for start in range(0, flat.size, _CHECK_BLOCK)
    )


def build(model_uri: str, manifest: dict[str, Any], blobs: dict[str, Blob]) -> LoadedModel:
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
        if spec.finite and not _all_finite(a[spec]):
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
        user_ids=IdMap(user_ids),
        item_ids=IdMap(item_ids),
    )


def load(model_uri: str, expected_version: str | None = None) -> LoadedModel:
    """Read, verify and check the model version at `model_uri`.

    Raises `ModelNotReadyError` while the version is not published yet and
    `ModelCorruptError` when any file fails its digest or the arrays disagree.
    """
    store = open_store(model_uri)
    blobs: dict[str, Blob]
    if isinstance(store, LocalStore):
        # Verified by streaming, then mapped: no file is held in this worker's memory.
        manifest = artifact.verify(store)
        blobs = {name: store.root.joinpath(*name.split("/")) for name in manifest["files"]}
    else:
        manifest, read = artifact.read_verified(store)
        blobs = dict(read)
    model = build(model_uri, manifest, blobs)
    if expected_version and model.version != expected_version:
        raise _corrupt(
            model_uri,
            artifact.MANIFEST,
            f"holds version {model.version!r} but MODEL_VERSION is {expected_version!r}",
        )
    return model
