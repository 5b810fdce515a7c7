"""The model version artifact: one immutable folder per version, committed by `_COMPLETE`.

Layout of `<models_uri>/<model_name>/<version_id>/`:

- the model files (portable arrays and JSON, never pickles);
- `manifest.json`: provenance, data snapshot, hyperparameters, metrics, library versions
  and, under `files`, the sha256 and size of every model file;
- `_COMPLETE`: written last; it records the sha256 of `manifest.json`. A folder without
  it is a version still being written (or abandoned by a crash): readers wait or refuse.

Every write is a `write_once`, so nothing is ever overwritten. `publish` creates
`manifest.json` first: the digests are known before anything is uploaded, and its
conditional create is the claim that makes one of two racing publishers the only writer
(the loser has written nothing). `_COMPLETE` stays last, so a crash or storage failure at
any point leaves a folder that `verify` reports as not ready, never as a usable model.
"""

import hashlib
import json
import logging
import math
import os
import random
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from mlrelease.errors import InputError, MlreleaseError
from mlrelease.store import (
    CONNECTION_STRING_ENV,
    AlreadyExistsError,
    NotFoundError,
    Store,
    StoreError,
    check_key,
    credential_values,
    open_store,
)
from mlrelease.store.local import fsync_path

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
COMPLETE = "_COMPLETE"
RESERVED = (MANIFEST, COMPLETE)
# Marks the hidden folder a download is assembled in before it is renamed into place.
_PARTIAL_MARKER = ".partial-"

log = logging.getLogger("mlrelease.store.artifact")

Version = str | os.PathLike[str] | Store

_REPUBLISH_HINT = (
    "versions are immutable: publish it again under a new build number, and do not route "
    "traffic to this one"
)


class VersionExistsError(MlreleaseError):
    """The version folder already holds something; a version is written once."""


class ModelNotReadyError(MlreleaseError):
    """The version has no `_COMPLETE` yet: still being published, or abandoned."""


class ModelCorruptError(MlreleaseError):
    """The version is complete but a file is missing or differs from the manifest."""


class ModelWaitTimeoutError(MlreleaseError):
    """`wait` gave up before the version became complete and verified."""


def version_uri(models_uri: str, model_name: str, version_id: str) -> str:
    """`<models_uri>/<model_name>/<version_id>`: where one model version lives."""
    for what, value in (("model name", model_name), ("version id", version_id)):
        if not value or "/" in value or value in (".", ".."):
            raise InputError(f"{what} {value!r} must be one non-empty path segment without '/'")
    return f"{os.fspath(models_uri).rstrip('/')}/{model_name}/{version_id}"


def sha256_hex(data: bytes) -> str:
    """The hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def ensure_empty(version: Version) -> None:
    """Refuse a version folder that holds anything (call before spending time training)."""
    store = open_store(version)
    existing = store.list()
    if existing:
        raise VersionExistsError(_not_empty_message(store, existing))


def publish(version: Version, files: Mapping[str, bytes], manifest: Mapping[str, Any]) -> dict:
    """Write one model version and return its manifest with `files` filled in.

    Order: `manifest.json` (the claim), each file, then `_COMPLETE`. Raises
    `VersionExistsError` if the folder holds anything or another publisher claims it first,
    `StoreError` if storage fails (the folder then has no `_COMPLETE`).
    """
    store = open_store(version)
    payload = _checked_files(files)
    final = dict(manifest)
    if final.setdefault("formatVersion", FORMAT_VERSION) != FORMAT_VERSION:
        raise InputError(
            f"manifest formatVersion {final['formatVersion']!r} is not {FORMAT_VERSION}, the "
            "format this mlrelease writes; leave it out and publish fills it in"
        )
    final["files"] = {
        name: {"sha256": sha256_hex(data), "size": len(data)} for name, data in payload.items()
    }
    manifest_bytes = _encode_manifest(final)

    ensure_empty(store)
    try:
        store.write_once(MANIFEST, manifest_bytes)
    except AlreadyExistsError:
        raise VersionExistsError(
            f"{store.uri} was claimed by another publisher while this one was starting; "
            "that publisher's version stands and nothing was written by this one"
        ) from None
    written = 1
    try:
        for name, data in payload.items():
            store.write_once(name, data)
            written += 1
        store.write_once(COMPLETE, _complete_marker(manifest_bytes))
    except StoreError as error:
        log.error(
            "publishing %s stopped after %d of %d files; it has no %s, so readers treat it "
            "as not ready. Delete the folder before publishing this build again.",
            store.uri,
            written,
            len(payload) + 2,
            COMPLETE,
        )
        if isinstance(error, AlreadyExistsError):
            raise VersionExistsError(
                f"{store.uri}: {error}; another writer is using this version folder"
            ) from None
        raise
    log.info("published %s (%d files)", store.uri, len(payload))
    return final


def verify(version: Version, *, digests: bool = True) -> dict:
    """The manifest of a complete, intact version; otherwise raise.

    `ModelNotReadyError` when `_COMPLETE` is absent; `ModelCorruptError` when `_COMPLETE`
    exists but the manifest or any file is missing or differs, or a file is not listed.
    With `digests=False` only sizes are compared (one listing, no file downloads): a
    cheap check for many versions. Files are hashed as they stream, so a model larger than
    memory can be verified.
    """
    store = open_store(version)
    manifest, sizes = _load_manifest(store)
    for name, _ in _files(store, manifest, sizes, read=False):
        if digests:
            sink = _DigestSink()
            _read_into(store, name, sink)
            _check_sink(store, name, manifest["files"][name], sink)
    return manifest


def read_verified(version: Version) -> tuple[dict, dict[str, bytes]]:
    """The manifest and every file's bytes of a complete version, each read once and checked."""
    store = open_store(version)
    manifest, sizes = _load_manifest(store)
    contents: dict[str, bytes] = {}
    for name, data in _files(store, manifest, sizes, read=True):
        assert data is not None
        _check_digest(store, name, manifest["files"][name], data)
        contents[name] = data
    return manifest, contents


def download(version: Version, into: str | os.PathLike[str]) -> dict:
    """Copy a complete version into the local folder `into`, verifying it; return the manifest.

    This is how a pod gets one copy of its model (the storage-initializer pattern): its init
    container downloads once into a pod-local volume and every server worker maps the same
    files. Each file is hashed while it streams to disk, so no file is held in memory and
    none is read twice. The copy is assembled in a hidden sibling folder and renamed to
    `into` only once every file matched its digest: `into` holds a complete, verified copy
    with its own `manifest.json` and `_COMPLETE` (a version folder `verify` accepts) or
    nothing, and an init container restarted mid-download starts over cleanly.

    A folder that already holds a verified copy of this same version is kept as it is (a
    restarted pod runs its init container again); a folder holding anything else is
    refused with `InputError`. Raises `ModelNotReadyError` and `ModelCorruptError` as
    `verify` does, and nothing is left under `into` then.
    """
    store = open_store(version)
    target = Path(into)
    manifest, sizes, manifest_bytes, marker_bytes = _read_manifest(store)
    if _holds_anything(target):
        return _existing_copy(store, target, manifest_bytes)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_partial_copies(target)
    staging = target.parent / f".{target.name}{_PARTIAL_MARKER}{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        for name, _ in _files(store, manifest, sizes, read=False):
            path = staging.joinpath(*name.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as handle:
                sink = _DigestSink(handle)
                _read_into(store, name, sink)
                _check_sink(store, name, manifest["files"][name], sink)
                handle.flush()
                os.fsync(handle.fileno())
        (staging / MANIFEST).write_bytes(manifest_bytes)
        (staging / COMPLETE).write_bytes(marker_bytes)
        for path in staging.rglob("*"):
            if path.is_file():
                # The copy is the model as published: nothing in the pod should change it.
                path.chmod(0o444)
        fsync_path(staging)
        if target.exists():
            target.rmdir()  # empty (checked above): the rename then puts the copy in its place
        os.rename(staging, target)
        fsync_path(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("copied %s to %s (%d files verified)", store.uri, target, len(manifest["files"]))
    return manifest


def _holds_anything(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return True


def _existing_copy(store: Store, target: Path, manifest_bytes: bytes) -> dict:
    """The manifest of `target` when it is a verified copy of the same version, else refuse."""
    refusal = (
        f"{target} is not empty and is not a verified copy of {store.uri}; give a new or "
        "empty folder (the model is never downloaded over other files)"
    )
    try:
        copy = open_store(str(target))
        manifest = verify(copy)
        same = copy.read_bytes(MANIFEST) == manifest_bytes
    except (MlreleaseError, OSError):
        raise InputError(refusal) from None
    if not same:
        raise InputError(refusal)
    log.info("%s already holds a verified copy of %s; nothing downloaded", target, store.uri)
    return manifest


def _remove_partial_copies(target: Path) -> None:
    # Left by an init container that was stopped mid-download; they are never read.
    for leftover in target.parent.glob(f".{target.name}{_PARTIAL_MARKER}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def wait(
    version: Version,
    timeout: float,
    initial_delay: float = 1,
    max_delay: float = 30,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    into: str | os.PathLike[str] | None = None,
) -> dict:
    """Poll until the version is complete and verified; return its manifest.

    With `into`, the verified version is also copied into that local folder (see
    `download`): the files are verified as they are copied, so each is read once.

    Retries while it is not ready and on storage errors (the store may come up after the
    pod), with exponential backoff and jitter, logging each attempt. Raises
    `ModelWaitTimeoutError` after `timeout` seconds, and `ModelCorruptError` at once (no
    retry: a complete version never changes, so it will not heal).
    """
    if not (timeout >= 0 and math.isfinite(timeout)):
        raise InputError(f"wait timeout must be a number of seconds >= 0, not {timeout!r}")
    if not (0 < initial_delay <= max_delay):
        raise InputError(
            f"wait delays need 0 < initial_delay <= max_delay, got {initial_delay}, {max_delay}"
        )
    # The poll loop is the retry: one SDK retry per attempt keeps attempts short.
    store = open_store(version, retries=1)
    deadline = clock() + timeout
    delays = backoff_delays(initial_delay, max_delay)
    attempt = 0
    while True:
        attempt += 1
        try:
            manifest = verify(store) if into is None else download(store, into)
        except (ModelNotReadyError, StoreError) as error:
            status = str(error)
        else:
            log.info("attempt %d: %s is complete and verified", attempt, store.uri)
            return manifest
        remaining = deadline - clock()
        if remaining <= 0:
            raise ModelWaitTimeoutError(
                f"gave up waiting for {store.uri} after {timeout:g}s ({attempt} attempts); "
                f"last status: {status}. Check that the training job for this version "
                "succeeded, or raise --timeout"
            )
        delay = min(next(delays), remaining)
        log.info("attempt %d: %s; retrying in %.1fs", attempt, status, delay)
        sleep(delay)


def backoff_delays(
    initial_delay: float, max_delay: float, rng: random.Random | None = None
) -> Iterator[float]:
    """Exponential delays capped at `max_delay`, each jittered to 50-100% of its value.

    The jitter keeps many scoring pods that start together from polling in lockstep.
    """
    rng = rng or random.Random()
    ceiling = initial_delay
    while True:
        yield ceiling * rng.uniform(0.5, 1.0)
        ceiling = min(max_delay, ceiling * 2)


def _checked_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    if not files:
        raise InputError("a model version needs at least one file; nothing was published")
    payload: dict[str, bytes] = {}
    for name in sorted(files):
        check_key(name)
        if name in RESERVED:
            raise InputError(f"model file name {name!r} is reserved for the artifact format")
        data = files[name]
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InputError(f"model file {name!r} must be bytes, not {type(data).__name__}")
        payload[name] = bytes(data)
    return payload


def _encode_manifest(manifest: dict) -> bytes:
    try:
        text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n"
    except (TypeError, ValueError) as error:
        raise InputError(f"the manifest is not plain JSON data: {error}") from None
    # The manifest is published next to the model and shown to anyone: never a credential.
    if any(secret in text for secret in credential_values(os.environ)):
        raise InputError(
            f"the manifest contains a storage credential from {CONNECTION_STRING_ENV}; "
            "remove it (record the store URI, never the connection string)"
        )
    return text.encode()


def _complete_marker(manifest_bytes: bytes) -> bytes:
    marker = {
        "formatVersion": FORMAT_VERSION,
        "manifest": {"sha256": sha256_hex(manifest_bytes), "size": len(manifest_bytes)},
    }
    return (json.dumps(marker, sort_keys=True) + "\n").encode()


def _load_manifest(store: Store) -> tuple[dict, dict[str, int]]:
    """The parsed manifest (checked against `_COMPLETE`) and the sizes of all keys."""
    manifest, sizes, _, _ = _read_manifest(store)
    return manifest, sizes


def _read_manifest(store: Store) -> tuple[dict, dict[str, int], bytes, bytes]:
    """`_load_manifest` plus the bytes of `manifest.json` and `_COMPLETE`, for a copy."""
    sizes = store.entries()
    if COMPLETE not in sizes:
        if not sizes:
            state = "holds nothing yet: the training job has not started publishing"
        else:
            state = (
                f"has no {COMPLETE} yet ({len(sizes)} files so far): it is still being "
                "published, or its publisher failed (see the training job's logs)"
            )
        raise ModelNotReadyError(f"{store.uri} {state}")
    try:
        marker_bytes = store.read_bytes(COMPLETE)
        marker = json.loads(marker_bytes)
        expected = marker["manifest"]
        manifest_bytes = store.read_bytes(MANIFEST)
    except NotFoundError as error:
        raise _corrupt(store, MANIFEST, f"is missing although {COMPLETE} exists") from error
    except (ValueError, KeyError, TypeError):
        raise _corrupt(store, COMPLETE, "is not a valid commit marker") from None
    if not isinstance(expected, dict) or sha256_hex(manifest_bytes) != expected.get("sha256"):
        raise _corrupt(store, MANIFEST, f"does not match the sha256 recorded in {COMPLETE}")
    try:
        manifest = json.loads(manifest_bytes)
        files = manifest["files"]
        for name, entry in files.items():
            check_key(name)
            if not isinstance(entry["sha256"], str) or not isinstance(entry["size"], int):
                raise TypeError(name)
    except (ValueError, KeyError, TypeError, AttributeError, InputError):
        raise _corrupt(store, MANIFEST, "is not a valid model manifest") from None
    if manifest.get("formatVersion") != FORMAT_VERSION:
        raise ModelCorruptError(
            f"{store.key_uri(MANIFEST)} has formatVersion {manifest.get('formatVersion')!r}; "
            f"this mlrelease reads {FORMAT_VERSION}: use the mlrelease release that wrote it"
        )
    # A complete version holds exactly what its manifest lists: a file added afterwards
    # would be served or read by something, yet no digest vouches for it.
    unlisted = sorted(set(sizes) - set(files) - set(RESERVED))
    if unlisted:
        shown = ", ".join(unlisted[:5]) + (", ..." if len(unlisted) > 5 else "")
        raise ModelCorruptError(
            f"{store.uri} holds {len(unlisted)} files its manifest does not list ({shown}): "
            "the version was changed after it was published; " + _REPUBLISH_HINT
        )
    return manifest, sizes, manifest_bytes, marker_bytes


def _files(
    store: Store, manifest: dict, sizes: dict[str, int], *, read: bool
) -> Iterator[tuple[str, bytes | None]]:
    for name, entry in sorted(manifest["files"].items()):
        if name not in sizes:
            raise _corrupt(store, name, "is listed in the manifest but missing")
        if sizes[name] != entry["size"]:
            raise _corrupt(
                store, name, f"has {sizes[name]} bytes, the manifest says {entry['size']}"
            )
        if not read:
            yield name, None
            continue
        try:
            yield name, store.read_bytes(name)
        except NotFoundError:
            raise _corrupt(store, name, "is listed in the manifest but missing") from None


class _DigestSink:
    """A write-only stream that hashes and counts what passes through to `handle`."""

    def __init__(self, handle: BinaryIO | None = None) -> None:
        self._handle = handle
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        if self._handle is not None:
            self._handle.write(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _read_into(store: Store, name: str, sink: _DigestSink) -> None:
    try:
        store.read_into(name, sink)
    except NotFoundError:
        raise _corrupt(store, name, "is listed in the manifest but missing") from None


def _check_sink(store: Store, name: str, entry: dict, sink: _DigestSink) -> None:
    if sink.size != entry["size"] or sink.hexdigest() != entry["sha256"]:
        raise _corrupt(store, name, "does not match the sha256 in the manifest")


def _check_digest(store: Store, name: str, entry: dict, data: bytes) -> None:
    if len(data) != entry["size"] or sha256_hex(data) != entry["sha256"]:
        raise _corrupt(store, name, "does not match the sha256 in the manifest")


def _corrupt(store: Store, name: str, problem: str) -> ModelCorruptError:
    return ModelCorruptError(
        f"{store.key_uri(name)} {problem}: the version was changed after it was published; "
        + _REPUBLISH_HINT
    )


def _not_empty_message(store: Store, existing: list[str]) -> str:
    shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
    state = "a complete version" if COMPLETE in existing else "an unfinished publish"
    return (
        f"{store.uri} already holds {len(existing)} files ({shown}; {state}); a model version "
        "is written once: build again with a new build number"
        + ("" if COMPLETE in existing else ", or delete the unfinished folder first")
    )
