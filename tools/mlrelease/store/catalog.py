"""Every version of one model in the store, and which of them may be deleted.

Versions are write-once, so without pruning a store only grows. Deleting is safe only for a
version that is complete (an incomplete one may be a publish in progress), that no routing
references at any weight (a warm subset's pods load the model again when they restart), and
that is older than the newest N. Newest means the manifest's `createdAt`.

A version is deleted `_COMPLETE` first: a reader that looks while the deletion runs sees a
version that is not ready, never one that looks usable or corrupt.
"""

import dataclasses
import json
from collections.abc import Collection
from typing import Any

from mlrelease.errors import InputError, MlreleaseError
from mlrelease.store import Store, StoreError, open_store
from mlrelease.store.artifact import COMPLETE, MANIFEST, verify


@dataclasses.dataclass
class VersionInfo:
    """What the store says about one version folder."""

    version: str
    status: str  # complete, incomplete or corrupt
    files: int
    build_number: str = ""
    created_at: str = ""
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def model_store(models_uri: str, model_name: str) -> Store:
    """The folder holding every version of `model_name`."""
    if not model_name or "/" in model_name or model_name in (".", ".."):
        raise InputError(f"model name {model_name!r} must be one path segment without '/'")
    return open_store(models_uri).child(model_name)


def list_versions(store: Store) -> list[VersionInfo]:
    """Every version folder under `store`, oldest first (by createdAt, then id)."""
    folders: dict[str, int] = {}
    for key in store.list():
        version, _, rest = key.partition("/")
        if rest:
            folders[version] = folders.get(version, 0) + 1
    infos = [_describe(store, version, count) for version, count in folders.items()]
    return sorted(infos, key=lambda info: (info.created_at, info.version))


def _describe(store: Store, version: str, count: int) -> VersionInfo:
    folder = store.child(version)
    try:
        manifest = verify(folder, digests=False)
    except StoreError:
        raise
    except MlreleaseError as error:
        status = "incomplete" if not folder.exists(COMPLETE) else "corrupt"
        created = _created_at(folder)
        return VersionInfo(version, status, count, created_at=created, problem=str(error))
    return VersionInfo(
        version,
        "complete",
        count,
        build_number=str(manifest.get("buildNumber", "")),
        created_at=str(manifest.get("createdAt", "")),
        metrics=manifest.get("metrics") or {},
    )


def _created_at(folder: Store) -> str:
    """An unfinished version's manifest (written first) still dates it, when readable."""
    try:
        return str(json.loads(folder.read_bytes(MANIFEST)).get("createdAt", ""))
    except (MlreleaseError, ValueError, AttributeError):
        return ""


def prune_plan(
    versions: list[VersionInfo], referenced: Collection[str], keep: int
) -> tuple[list[VersionInfo], dict[str, str]]:
    """(versions to delete, {version: why it stays}) for `versions` listed oldest first."""
    if keep < 1:
        raise InputError(f"--keep {keep} must be at least 1: the newest version always stays")
    complete = [info for info in versions if info.status == "complete"]
    newest = {info.version for info in complete[-keep:]}
    delete, kept = [], {}
    for info in versions:
        if info.status != "complete":
            kept[info.version] = f"{info.status}: may be a publish in progress"
        elif info.version in referenced:
            kept[info.version] = "referenced by the routing"
        elif info.version in newest:
            kept[info.version] = f"among the newest {keep}"
        else:
            delete.append(info)
    return delete, kept


def delete_version(store: Store, version: str) -> int:
    """Delete one version folder, `_COMPLETE` first and the manifest last; the file count."""
    keys = store.child(version).list()
    order = [COMPLETE] + [key for key in keys if key not in (COMPLETE, MANIFEST)] + [MANIFEST]
    for key in order:
        if key in keys:
            # Through the model's folder, so a local store also removes the emptied folder.
            store.delete(f"{version}/{key}")
    return len(keys)
