"""A model store on Azure Blob Storage: `az://<container>/<prefix>`.

The account comes from the environment, never from the URI or a values file:
`AZURE_STORAGE_CONNECTION_STRING` (mounted from a Kubernetes Secret), or
`AZURE_STORAGE_ACCOUNT_URL` with azure-identity's DefaultAzureCredential (workload
identity). `write_once` is `upload_blob(overwrite=False)`, an `If-None-Match: *`
conditional create that the service decides, so of two racing writers exactly one wins.
"""

import contextlib
import functools
import logging
import os
import re
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urlparse

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from mlrelease.errors import InputError
from mlrelease.store import (
    ACCOUNT_URL_ENV,
    AZURE_SCHEME,
    CONNECTION_STRING_ENV,
    AlreadyExistsError,
    NotFoundError,
    Store,
    StoreError,
    check_key,
    credential_values,
    join_key,
)

# azure-core logs every request and response at INFO; our CLI logs at INFO to stderr, so
# without this each poll of `model wait` would print a dozen header lines.
if logging.getLogger("azure").level == logging.NOTSET:
    logging.getLogger("azure").setLevel(logging.WARNING)

_SAS_SIGNATURE = re.compile(r"(sig=)[^&\s;'\"]+", re.IGNORECASE)


class AzureStore(Store):
    """A store rooted at `<prefix>/` inside one blob container."""

    def __init__(self, container: ContainerClient, prefix: str, secrets: tuple[str, ...]) -> None:
        self._container = container
        self._prefix = prefix
        self._secrets = secrets
        name = container.container_name
        self.uri = f"{AZURE_SCHEME}://{name}/{prefix}" if prefix else f"{AZURE_SCHEME}://{name}"

    @classmethod
    def from_environment(cls, container: str, prefix: str, *, retries: int = 3) -> "AzureStore":
        """The store for `az://<container>/<prefix>` with the account from the environment."""
        connection_string = os.environ.get(CONNECTION_STRING_ENV, "").strip()
        account_url = os.environ.get(ACCOUNT_URL_ENV, "").strip()
        if not connection_string and not account_url:
            raise InputError(
                f"az://{container} needs Azure credentials: set {CONNECTION_STRING_ENV} "
                f"(from a Kubernetes Secret) or {ACCOUNT_URL_ENV} (workload identity, "
                "e.g. https://<account>.blob.core.windows.net)"
            )
        if not connection_string:
            parsed = urlparse(account_url)
            if parsed.scheme not in ("https", "http") or not parsed.netloc:
                raise InputError(
                    f"{ACCOUNT_URL_ENV}={account_url!r} is not a blob endpoint URL; expected "
                    "https://<account>.blob.core.windows.net"
                )
        service = _service_client(connection_string, account_url, retries)
        return cls(
            service.get_container_client(container),
            prefix,
            credential_values({CONNECTION_STRING_ENV: connection_string}),
        )

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    def entries(self, prefix: str = "") -> dict[str, int]:
        base = f"{self._prefix}/" if self._prefix else ""
        try:
            return {
                blob.name[len(base) :]: blob.size
                for blob in self._container.list_blobs(name_starts_with=base + prefix)
                if not blob.name.endswith("/")
            }
        except AzureError as error:
            raise self._error("cannot list", self.uri, error) from None

    def read_bytes(self, key: str) -> bytes:
        with self._reading(key):
            return self._container.download_blob(self._name(key)).readall()

    def read_into(self, key: str, sink: BinaryIO) -> None:
        # One connection: the sink is written in order, so it need not be seekable.
        with self._reading(key):
            self._container.download_blob(self._name(key), max_concurrency=1).readinto(sink)

    @contextlib.contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        """Storage errors of a download as the store's own: missing, or unreadable."""
        try:
            yield
        except ResourceNotFoundError as error:
            if _code(error) == "BlobNotFound":
                raise NotFoundError(f"{self.key_uri(key)} does not exist") from None
            raise self._error("cannot read", self.key_uri(key), error) from None
        except AzureError as error:
            raise self._error("cannot read", self.key_uri(key), error) from None

    def exists(self, key: str) -> bool:
        try:
            return self._container.get_blob_client(self._name(key)).exists()
        except AzureError as error:
            raise self._error("cannot check", self.key_uri(key), error) from None

    def write_once(self, key: str, data: bytes) -> None:
        try:
            self._container.upload_blob(self._name(key), data, overwrite=False)
        except ResourceExistsError as error:
            if _code(error) == "BlobAlreadyExists":
                raise AlreadyExistsError(f"{self.key_uri(key)} already exists") from None
            raise self._error("cannot write", self.key_uri(key), error) from None
        except AzureError as error:
            raise self._error("cannot write", self.key_uri(key), error) from None

    def delete(self, key: str) -> None:
        try:
            self._container.delete_blob(self._name(key))
        except ResourceNotFoundError:
            return
        except AzureError as error:
            raise self._error("cannot delete", self.key_uri(key), error) from None

    def child(self, *parts: str) -> "AzureStore":
        key = join_key(*parts)
        prefix = f"{self._prefix}/{key}" if self._prefix else key
        return AzureStore(self._container, prefix, self._secrets)

    def _error(self, action: str, uri: str, error: AzureError) -> StoreError:
        return StoreError(f"{action} {uri}: {_describe(error, self._secrets)}")


@functools.lru_cache(maxsize=8)
def _service_client(connection_string: str, account_url: str, retries: int) -> BlobServiceClient:
    # Cached so checking several versions (the traffic readiness gate) reuses one HTTP
    # session and, with workload identity, one token.
    options = {
        "retry_policy": ExponentialRetry(
            initial_backoff=1, increment_base=2, retry_total=retries, random_jitter_range=1
        ),
        "connection_timeout": 10,
    }
    if connection_string:
        try:
            return BlobServiceClient.from_connection_string(connection_string, **options)
        except ValueError:
            raise InputError(
                f"{CONNECTION_STRING_ENV} is not a valid Azure Storage connection string "
                "(expected AccountName=...;AccountKey=... or BlobEndpoint=...); "
                "copy it again from the storage account's Access keys"
            ) from None
    from azure.identity import DefaultAzureCredential

    try:
        return BlobServiceClient(account_url, credential=DefaultAzureCredential(), **options)
    except ValueError as error:
        raise InputError(
            f"{ACCOUNT_URL_ENV}={account_url!r} is not a blob endpoint URL ({error}); "
            "expected https://<account>.blob.core.windows.net"
        ) from None


def _code(error: AzureError) -> str | None:
    return getattr(error, "error_code", None)


def _describe(error: AzureError, secrets: tuple[str, ...]) -> str:
    """A one-line reason without credentials in it."""
    if isinstance(error, HttpResponseError) and error.status_code:
        reason = f"HTTP {error.status_code} {_code(error) or error.reason or ''}".strip()
        if error.status_code in (401, 403):
            reason += f" (check the credentials in {CONNECTION_STRING_ENV} or {ACCOUNT_URL_ENV})"
        elif _code(error) == "ContainerNotFound":
            reason += " (create the container first, e.g. az storage container create)"
    else:
        first_line = (str(error.message if hasattr(error, "message") else error) or "").strip()
        reason = f"{type(error).__name__}: {first_line.splitlines()[0] if first_line else ''}"
    reason = _SAS_SIGNATURE.sub(r"\1<redacted>", reason)
    for secret in secrets:
        reason = reason.replace(secret, "<redacted>")
    return reason
