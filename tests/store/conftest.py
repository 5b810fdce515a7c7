"""Fixtures for the model store tests: real local folders and a real Azurite blob service.

The shared `azurite` fixture (tests/conftest.py) serves most cases; `own_azurite` gives a
test its own server that it may kill, like a storage outage.
"""

import os
import time
import uuid
from pathlib import Path

import pytest
from support.azurite import AZURITE_CONTAINER, require_azurite

from mlrelease.rehearsal.azurite import DEV_ACCOUNT, DEV_KEY, Azurite, free_port
from mlrelease.store import ACCOUNT_URL_ENV, CONNECTION_STRING_ENV

CONTAINER = AZURITE_CONTAINER


class PersistentAzurite(Azurite):
    """Azurite whose on-disk state a test can wait for before killing it."""

    def wait_until_persisted(self, since: float, timeout: float = 15) -> None:
        """Block until Azurite's metadata file was saved after `since` (it autosaves every 5s).

        Without this a SIGKILL also loses writes that had succeeded, and the test could not
        tell what the publisher left behind.
        """
        database = self.workdir / "__azurite_db_blob__.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if database.exists() and database.stat().st_mtime > since:
                return
            time.sleep(0.1)
        raise RuntimeError(f"Azurite did not save {database} within {timeout}s")


@pytest.fixture
def own_azurite(tmp_path):
    """A blob service for one test, which may kill and restart it."""
    server = PersistentAzurite(require_azurite(), tmp_path / "azurite")
    server.workdir.mkdir()
    try:
        server.start()
        server.service().create_container(CONTAINER)
        yield server
    finally:
        server.stop()


@pytest.fixture
def no_azure_env(monkeypatch):
    """Forget any Azure credentials of the developer's shell."""
    monkeypatch.delenv(CONNECTION_STRING_ENV, raising=False)
    monkeypatch.delenv(ACCOUNT_URL_ENV, raising=False)


@pytest.fixture(params=["local", "azurite"])
def backend(request, tmp_path, no_azure_env, monkeypatch):
    """("local" | "azurite", a fresh empty models root URI on that storage)."""
    if request.param == "local":
        return "local", str(tmp_path / "models")
    server = request.getfixturevalue("azurite")
    monkeypatch.setenv(CONNECTION_STRING_ENV, server.connection_string)
    return "azurite", f"az://{CONTAINER}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def models_uri(backend):
    return backend[1]


@pytest.fixture
def overwrite(backend, request):
    """A function that replaces a key's content behind the store's back (tampering)."""
    kind, _ = backend

    def replace(uri: str, key: str, data: bytes | None) -> None:
        if kind == "local":
            path = Path(uri, key)
            if data is None:
                path.unlink()
            else:
                path.write_bytes(data)
            return
        _, _, rest = uri.partition("://")
        container, _, prefix = rest.partition("/")
        server = request.getfixturevalue("azurite")
        blob = server.service().get_blob_client(container, f"{prefix}/{key}")
        if data is None:
            blob.delete_blob()
        else:
            blob.upload_blob(data, overwrite=True)

    return replace


@pytest.fixture
def cli_env(backend):
    """Environment for running the CLI as a subprocess against this backend."""
    env = {k: v for k, v in os.environ.items() if k not in (CONNECTION_STRING_ENV, ACCOUNT_URL_ENV)}
    if backend[0] == "azurite":
        env[CONNECTION_STRING_ENV] = os.environ[CONNECTION_STRING_ENV]
    return env


@pytest.fixture
def nowhere():
    """(connection string to a port nothing listens on, its account key)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{free_port()}/{DEV_ACCOUNT};"
    ), DEV_KEY
