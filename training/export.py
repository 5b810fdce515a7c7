"""Turn a trained model into the portable files of a model version, and its manifest.

Only `.npy` arrays and JSON are written, never pickle: the scoring service loads them with
`np.load(..., allow_pickle=False)`, so a model file can never execute code, and any
language with an npy reader can serve the model. The file set and dtypes are the contract
with `scoring` (see mlrelease.store.modelfiles and mlrelease.store.artifact).
"""

import io
import json
import platform
from datetime import UTC, datetime
from importlib import metadata

import numpy as np
import scipy.sparse as sp

from mlrelease import __version__ as mlrelease_version
from mlrelease.store import artifact
from mlrelease.store import modelfiles as files
from training.config import Config
from training.data import Interactions
from training.model import Factors, Metrics


def model_files(factors: Factors, seen: sp.csr_matrix, data: Interactions) -> dict[str, bytes]:
    """The version's files: factor arrays, the seen-items matrix, popularity and id maps.

    `seen` (users x items) is every interaction the users had in the input, so serving
    never recommends an item a user already has; popularity counts the same interactions
    and ranks items for users the model has never seen.
    """
    seen = seen.tocsr()
    seen.sort_indices()
    arrays = {
        files.USER_EMBEDDINGS: factors.user_embeddings,
        files.USER_BIASES: factors.user_biases,
        files.ITEM_EMBEDDINGS: factors.item_embeddings,
        files.ITEM_BIASES: factors.item_biases,
        files.SEEN_INDPTR: seen.indptr,
        files.SEEN_INDICES: seen.indices,
        files.ITEM_POPULARITY: np.diff(seen.tocsc().indptr),
    }
    return {
        **{spec.name: _npy(values, spec.dtype) for spec, values in arrays.items()},
        files.USER_IDS: _json(data.user_ids),
        files.ITEM_IDS: _json(data.item_ids),
    }


def manifest(
    config: Config,
    data: Interactions,
    metrics: Metrics,
    *,
    train_seconds: float,
    split: str,
    created_at: datetime | None = None,
) -> dict:
    """The manifest without `files` (artifact.publish adds the digest of every file)."""
    created = (created_at or datetime.now(UTC)).astimezone(UTC)
    return {
        "formatVersion": artifact.FORMAT_VERSION,
        "modelName": config.model_name,
        "versionId": config.model_version,
        "buildNumber": config.build_number,
        "createdAt": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "provenance": config.provenance.to_dict(),
        "data": {
            "uri": config.data_uri,
            "files": data.snapshot,
            "rows": data.rows_read,
            "interactions": len(data.users),
            "users": data.n_users,
            "items": data.n_items,
        },
        "hyperparameters": {
            **config.hyperparameters.to_dict(),
            "minRating": config.min_rating,
            "testFraction": config.test_fraction,
            "split": split,
        },
        "metrics": {
            **metrics.to_dict(),
            "trainSeconds": round(train_seconds, 3),
            "minPrecisionAtK": config.min_precision_at_k,
            "minTestUsers": config.min_test_users,
        },
        "libraries": library_versions(),
    }


def library_versions() -> dict[str, str]:
    """Versions of everything that shaped the model's numbers."""
    versions = {"python": platform.python_version(), "mlrelease": mlrelease_version}
    for name, distribution in (
        ("lightfm", "lightfm-next"),
        ("numpy", "numpy"),
        ("scipy", "scipy"),
    ):
        try:
            versions[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def _npy(values: np.ndarray, dtype: str) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(values, dtype=dtype), allow_pickle=False)
    return buffer.getvalue()


def _json(ids: list[str]) -> bytes:
    return json.dumps(ids, ensure_ascii=False).encode("utf-8")
