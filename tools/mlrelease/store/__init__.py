"""The model store: where model versions are written once and read by everyone else.

A store is a root URI: a local folder (a path or `file://...`, e.g. a mounted volume) or
`az://<container>/<prefix>` on Azure Blob Storage. Keys are '/'-separated paths relative
to the root. The only way to write is `write_once`, a conditional create: an existing key
is never overwritten, not even by a writer racing this one. That single guarantee is what
makes a model version folder immutable and lets exactly one of two concurrent publishers
win (see `mlrelease.store.artifact`).

Storage failures raise `StoreError` with a message naming the URI; credentials (the
connection string, account key or SAS token) never appear in a message.
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from mlrelease.errors import InputError, MlreleaseError

AZURE_SCHEME = "az"
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
ACCOUNT_URL_ENV = "AZURE_STORAGE_ACCOUNT_URL"

# Azure's container naming rule; checked up front so a typo fails before any request.
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")

SUPPORTED_FORMS = "a local path, file:///absolute/path or az://<container>/<prefix>"


class StoreError(MlreleaseError):
    """Reading or writing the store failed (unreachable, denied, ...)."""


class AlreadyExistsError(StoreError):
    """`write_once` found the key already there: someone else wrote it first."""


class NotFoundError(StoreError):
    """The key does not exist."""


class Store:
    """A root in a model store; subclasses talk to one kind of storage."""

    uri: str

    def entries(self, prefix: str = "") -> dict[str, int]:
        """Every key under this root that starts with `prefix`, with its size in bytes."""
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[str]:
        """Every key under this root that starts with `prefix`, sorted."""
        return sorted(self.entries(prefix))

    def read_bytes(self, key: str) -> bytes:
        """The content of `key`; `NotFoundError` if it does not exist."""
        raise NotImplementedError

    def read_into(self, key: str, sink: BinaryIO) -> None:
        """Write the content of `key` to `sink` in chunks; `NotFoundError` if it is absent.

        Model files can be larger than the memory an init container is given, so
        downloads stream instead of holding a whole file as `read_bytes` does.
        """
        sink.write(self.read_bytes(key))

    def exists(self, key: str) -> bool:
        """Whether `key` exists."""
        raise NotImplementedError

    def write_once(self, key: str, data: bytes) -> None:
        """Create `key` holding `data`; `AlreadyExistsError` if it exists, even by a race."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove `key` (absent is fine). Only `mlrelease model prune` deletes, and only
        whole versions that nothing routes to."""
        raise NotImplementedError

    def child(self, *parts: str) -> "Store":
        """The store rooted at `<uri>/<parts...>`."""
        raise NotImplementedError

    def key_uri(self, key: str) -> str:
        """The full URI of one key, for messages."""
        return f"{self.uri}/{check_key(key)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


def open_store(uri: "str | os.PathLike[str] | Store", *, retries: int = 3) -> Store:
    """The store at `uri`: a local path, `file://...` or `az://<container>/<prefix>`.

    `retries` bounds how often one Azure request is retried on a transient failure before
    `StoreError` is raised (callers that poll, like `artifact.wait`, retry on their own).
    A `Store` is returned unchanged, so functions can accept either.
    """
    # Imported here: the backends import this module's base class and errors.
    from mlrelease.store.local import LocalStore

    if isinstance(uri, Store):
        return uri
    text = os.fspath(uri)
    if not text or not text.strip():
        raise InputError(f"the store URI is empty; give {SUPPORTED_FORMS}")
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    # A one-letter scheme is a Windows drive ("C:\\models"), i.e. a local path.
    if scheme == "" or len(scheme) == 1:
        return LocalStore(Path(text), text.rstrip("/") or "/")
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InputError(
                f"store URI {text!r} names host {parsed.netloc!r}; file:// URIs must be local: "
                "write file:///absolute/path"
            )
        path = unquote(parsed.path)
        if not path:
            raise InputError(f"store URI {text!r} has no path; write file:///absolute/path")
        return LocalStore(Path(path), text.rstrip("/"))
    if scheme == AZURE_SCHEME:
        container = parsed.netloc
        if not _CONTAINER_NAME.match(container):
            raise InputError(
                f"store URI {text!r}: {container!r} is not a valid Azure container name "
                "(3-63 lowercase letters, digits and single hyphens); write "
                "az://<container>/<prefix>"
            )
        if parsed.query or parsed.fragment:
            raise InputError(
                f"store URI {text!r} has a query or fragment; credentials never go in the URI: "
                f"set {CONNECTION_STRING_ENV} or {ACCOUNT_URL_ENV} instead"
            )
        from mlrelease.store.azure import AzureStore

        prefix = "/".join(part for part in parsed.path.split("/") if part)
        return AzureStore.from_environment(container, prefix, retries=retries)
    raise InputError(
        f"store URI {text!r} has unsupported scheme {scheme!r}; give {SUPPORTED_FORMS}"
    )


def check_key(key: str) -> str:
    """`key` if it is a clean relative '/'-separated path; otherwise `InputError`."""
    parts = key.split("/") if isinstance(key, str) else []
    if not parts or any(part in ("", ".", "..") or "\\" in part for part in parts):
        raise InputError(
            f"store key {key!r} is not a relative path like 'name' or 'folder/name' "
            "(no empty, '.' or '..' parts, no backslashes)"
        )
    return key


def join_key(*parts: str) -> str:
    """Join key parts, checking each, e.g. for `child`."""
    return "/".join(check_key(part.strip("/")) for part in parts)


def credential_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The secret parts (account key, SAS token) of the connection string in `environ`.

    Used to keep them out of error messages and out of published manifests.
    """
    found = []
    for field in environ.get(CONNECTION_STRING_ENV, "").split(";"):
        name, _, value = field.partition("=")
        if name.strip().lower() in ("accountkey", "sharedaccesssignature") and value.strip():
            found.append(value.strip())
    return tuple(found)
