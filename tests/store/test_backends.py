"""The model store on a local folder and on Azurite: listing, reading, write-once."""

import threading
from pathlib import Path

import pytest

from mlrelease.errors import InputError
from mlrelease.store import (
    ACCOUNT_URL_ENV,
    CONNECTION_STRING_ENV,
    AlreadyExistsError,
    NotFoundError,
    StoreError,
    open_store,
)
from mlrelease.store.local import LocalStore


def test_write_once_then_read_list_and_exists(models_uri):
    store = open_store(models_uri)
    assert store.list() == []
    assert not store.exists("a/b.bin")
    store.write_once("a/b.bin", b"\x00\x01payload")
    store.write_once("a/c.json", b"{}")
    store.write_once("z.txt", b"z")
    assert store.read_bytes("a/b.bin") == b"\x00\x01payload"
    assert store.exists("a/b.bin")
    assert store.list() == ["a/b.bin", "a/c.json", "z.txt"]
    assert store.list("a/") == ["a/b.bin", "a/c.json"]
    assert store.list("a/c") == ["a/c.json"]
    assert store.entries("a/") == {"a/b.bin": 9, "a/c.json": 2}


def test_write_once_never_overwrites(models_uri):
    store = open_store(models_uri)
    store.write_once("model.npy", b"first")
    with pytest.raises(AlreadyExistsError, match=r"model\.npy already exists"):
        store.write_once("model.npy", b"second")
    assert store.read_bytes("model.npy") == b"first"


def test_child_is_rooted_under_its_parent(models_uri):
    root = open_store(models_uri)
    version = root.child("recommender", "v1")
    assert version.uri == f"{models_uri}/recommender/v1"
    version.write_once("x.bin", b"x")
    assert root.list() == ["recommender/v1/x.bin"]
    assert root.child("recommender").list() == ["v1/x.bin"]
    assert open_store(version.uri).read_bytes("x.bin") == b"x"


def test_reading_a_missing_key_names_it(models_uri):
    with pytest.raises(NotFoundError, match=r"nothing\.bin does not exist"):
        open_store(models_uri).read_bytes("nothing.bin")


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../escape", "a/./b", "a\\b"])
def test_keys_must_be_clean_relative_paths(models_uri, key):
    with pytest.raises(InputError, match="is not a relative path"):
        open_store(models_uri).write_once(key, b"x")
    assert open_store(models_uri).list() == []


def test_racing_writers_exactly_one_wins(models_uri):
    """Eight threads, each with its own client, create the same key at the same moment."""
    writers = 8
    barrier = threading.Barrier(writers)
    outcomes: dict[int, str] = {}
    stores = [open_store(models_uri) for _ in range(writers)]

    def write(index: int) -> None:
        barrier.wait()
        try:
            stores[index].write_once("claim", f"writer {index}".encode() * 1000)
            outcomes[index] = "won"
        except AlreadyExistsError:
            outcomes[index] = "lost"

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == writers
    assert len(winners) == 1
    assert open_store(models_uri).read_bytes("claim") == f"writer {winners[0]}".encode() * 1000
    assert open_store(models_uri).list() == ["claim"]


@pytest.mark.parametrize(
    ("uri", "root"),
    [
        ("/srv/models", "/srv/models"),
        ("/srv/models/", "/srv/models"),
        ("relative/models", "relative/models"),
        ("file:///srv/models", "/srv/models"),
        ("file://localhost/srv/my%20models", "/srv/my models"),
    ],
)
def test_local_uris(uri, root):
    store = open_store(uri)
    assert isinstance(store, LocalStore)
    assert store.root == Path(root)
    assert store.uri == uri.rstrip("/")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "is empty"),
        ("s3://bucket/models", "unsupported scheme 's3'"),
        ("file://otherhost/models", "must be local"),
        ("az://Models/x", "not a valid Azure container name"),
        ("az://ab/x", "not a valid Azure container name"),
        ("az://models/x?sig=abc", "credentials never go in the URI"),
    ],
)
def test_bad_uris_are_input_errors(uri, message, no_azure_env):
    with pytest.raises(InputError, match=message):
        open_store(uri)


def test_azure_without_credentials_names_both_variables(no_azure_env):
    with pytest.raises(InputError) as caught:
        open_store("az://models/recommender")
    assert CONNECTION_STRING_ENV in str(caught.value)
    assert ACCOUNT_URL_ENV in str(caught.value)


def test_malformed_connection_string_is_not_echoed(monkeypatch, no_azure_env):
    monkeypatch.setenv(CONNECTION_STRING_ENV, "AccountKey=hunter2-secret;nonsense")
    with pytest.raises(InputError) as caught:
        open_store("az://models/recommender")
    assert CONNECTION_STRING_ENV in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_unreachable_storage_names_the_uri_not_the_key(monkeypatch, no_azure_env, nowhere):
    # Nothing listens there; no retries keep the test fast.
    connection_string, key = nowhere
    monkeypatch.setenv(CONNECTION_STRING_ENV, connection_string)
    store = open_store("az://models/recommender/v1", retries=0)
    for operation in (
        lambda: store.list(),
        lambda: store.read_bytes("manifest.json"),
        lambda: store.write_once("manifest.json", b"{}"),
    ):
        with pytest.raises(StoreError) as caught:
            operation()
        message = str(caught.value)
        assert "az://models/recommender/v1" in message
        assert key not in message
        assert key[:20] not in message
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__


def test_local_write_failure_is_a_store_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    store = open_store(tmp_path / "file" / "models")
    with pytest.raises(StoreError, match=r"cannot write .*file/models/x\.bin"):
        store.write_once("x.bin", b"x")


def test_workload_identity_uses_the_account_url(monkeypatch, no_azure_env):
    # Construction only: a token request would leave the machine.
    monkeypatch.setenv(ACCOUNT_URL_ENV, "https://contoso.blob.core.windows.net")
    store = open_store("az://models/recommender")
    assert store.uri == "az://models/recommender"
    assert store.child("v1").uri == "az://models/recommender/v1"


@pytest.mark.parametrize("url", ["not a url", "ftp://contoso", "https://"])
def test_a_bad_account_url_is_an_input_error(monkeypatch, no_azure_env, url):
    monkeypatch.setenv(ACCOUNT_URL_ENV, url)
    with pytest.raises(InputError, match=f"{ACCOUNT_URL_ENV}=.*is not a blob endpoint URL"):
        open_store("az://models/recommender")
