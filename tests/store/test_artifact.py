"""Model versions on real storage: publish, verify, wait, and what faults leave behind."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mlrelease.errors import InputError
from mlrelease.store import CONNECTION_STRING_ENV, Store, StoreError, artifact, open_store
from mlrelease.store.artifact import (
    COMPLETE,
    MANIFEST,
    ModelCorruptError,
    ModelNotReadyError,
    ModelWaitTimeoutError,
    VersionExistsError,
)


def model_files(tag: str = "a") -> dict[str, bytes]:
    """Arbitrary bytes standing in for a model (real models are the trainer's tests)."""
    return {
        "user_embeddings.npy": os.urandom(4096),
        "item_ids.json": json.dumps([f"{tag}-{i}" for i in range(50)]).encode(),
        "extra/notes.txt": f"made by {tag}".encode(),
    }


def model_manifest(version_id: str = "v1") -> dict:
    return {
        "modelName": "recommender",
        "versionId": version_id,
        "buildNumber": "20261127.1",
        "createdAt": "2026-11-27T02:00:00Z",
        "provenance": {"commit": "0123abc", "branch": "refs/heads/main", "pullRequest": "42"},
        "metrics": {"k": 10, "precisionAtK": 0.31, "recallAtK": 0.2, "auc": 0.9},
    }


def snapshot(uri: str) -> dict[str, bytes]:
    store = open_store(uri)
    return {key: store.read_bytes(key) for key in store.list()}


class KillBeforeWrite(Store):
    """A real store whose `number`-th write first runs `kill` (a storage outage or crash)."""

    def __init__(self, inner: Store, number: int, kill) -> None:
        self.inner, self.number, self.kill = inner, number, kill
        self.uri = inner.uri
        self.writes: list[str] = []

    def entries(self, prefix=""):
        return self.inner.entries(prefix)

    def read_bytes(self, key):
        return self.inner.read_bytes(key)

    def exists(self, key):
        return self.inner.exists(key)

    def write_once(self, key, data):
        if len(self.writes) + 1 == self.number:
            self.kill()
        self.inner.write_once(key, data)
        self.writes.append(key)


def test_publish_then_verify(models_uri):
    uri = artifact.version_uri(models_uri + "/", "recommender", "v1")
    assert uri == f"{models_uri}/recommender/v1"
    files = model_files()
    published = artifact.publish(uri, files, model_manifest())

    assert published["formatVersion"] == artifact.FORMAT_VERSION
    assert published["files"]["user_embeddings.npy"] == {
        "sha256": artifact.sha256_hex(files["user_embeddings.npy"]),
        "size": 4096,
    }
    assert artifact.verify(uri) == published
    assert artifact.verify(uri, digests=False) == published
    manifest, contents = artifact.read_verified(uri)
    assert manifest == published
    assert contents == files
    stored = snapshot(uri)
    assert sorted(stored) == sorted([*files, MANIFEST, COMPLETE])
    marker = json.loads(stored[COMPLETE])
    assert marker["manifest"]["sha256"] == artifact.sha256_hex(stored[MANIFEST])


def test_publishing_into_a_non_empty_folder_is_refused_with_nothing_changed(models_uri):
    unfinished = artifact.version_uri(models_uri, "recommender", "v1")
    open_store(unfinished).write_once("user_embeddings.npy", b"left over")
    complete = artifact.version_uri(models_uri, "recommender", "v2")
    artifact.publish(complete, model_files(), model_manifest("v2"))
    before = {uri: snapshot(uri) for uri in (unfinished, complete)}

    for uri, state in ((unfinished, "unfinished publish"), (complete, "a complete version")):
        with pytest.raises(VersionExistsError, match=f"{state}.*new build number"):
            artifact.ensure_empty(uri)
        with pytest.raises(VersionExistsError, match="written once"):
            artifact.publish(uri, model_files("b"), model_manifest())

    assert {uri: snapshot(uri) for uri in (unfinished, complete)} == before
    artifact.verify(complete)
    artifact.ensure_empty(artifact.version_uri(models_uri, "recommender", "v3"))


def test_a_concurrent_second_publisher_loses_cleanly(models_uri):
    """Two publishers race for each version; different file names expose any stray write."""
    for round_number in range(3):
        uri = artifact.version_uri(models_uri, "recommender", f"race{round_number}")
        payloads = {name: {f"{name}.bin": os.urandom(2048)} for name in ("a", "b")}
        barrier = threading.Barrier(2)
        outcomes: dict[str, object] = {}

        def publish(name, uri=uri, payloads=payloads, barrier=barrier, outcomes=outcomes):
            store = open_store(uri)  # each publisher has its own store object
            barrier.wait()
            try:
                outcomes[name] = artifact.publish(store, payloads[name], model_manifest(name))
            except VersionExistsError as error:
                outcomes[name] = error

        threads = [threading.Thread(target=publish, args=(name,)) for name in payloads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        winners = [name for name, outcome in outcomes.items() if isinstance(outcome, dict)]
        losers = [name for name, outcome in outcomes.items() if isinstance(outcome, Exception)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        manifest, contents = artifact.read_verified(uri)
        assert manifest == outcomes[winners[0]]
        assert contents == payloads[winners[0]]
        assert sorted(snapshot(uri)) == sorted([f"{winners[0]}.bin", MANIFEST, COMPLETE])


@pytest.mark.slow
def test_storage_killed_mid_publish_leaves_no_complete(own_azurite, monkeypatch, no_azure_env):
    monkeypatch.setenv(CONNECTION_STRING_ENV, own_azurite.connection_string)
    uri = "az://models/recommender/v1"

    def outage():
        own_azurite.wait_until_persisted(since=time.time())
        own_azurite.kill()

    store = KillBeforeWrite(open_store(uri, retries=0), 3, outage)
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        artifact.publish(store, model_files(), model_manifest())
    assert time.monotonic() - started < 30
    assert store.writes == [MANIFEST, "extra/notes.txt"]
    assert "az://models/recommender/v1/item_ids.json" in str(caught.value)
    assert "AccountKey" not in str(caught.value)
    print(f"publish during the outage raised: {caught.value}")

    own_azurite.start()
    left = open_store(uri).list()
    print(f"after killing Azurite before write 3, the folder holds {left}")
    assert COMPLETE not in left
    assert left == ["extra/notes.txt", MANIFEST]
    with pytest.raises(ModelNotReadyError, match=f"no {COMPLETE} yet"):
        artifact.verify(uri)
    with pytest.raises(ModelWaitTimeoutError):
        artifact.wait(uri, timeout=0.5, initial_delay=0.1, max_delay=0.2)
    with pytest.raises(VersionExistsError, match="delete the unfinished folder"):
        artifact.publish(uri, model_files(), model_manifest())


def test_a_publisher_crash_mid_publish_leaves_no_complete(tmp_path):
    """The publishing process is SIGKILLed before its third write (a local volume)."""
    uri = str(tmp_path / "models" / "recommender" / "v1")
    script = textwrap.dedent(
        """
        import os, signal, sys
        from mlrelease.store import artifact
        from mlrelease import store

        class Crash(store.Store):
            def __init__(self, inner):
                self.inner, self.uri, self.count = inner, inner.uri, 0
            def entries(self, prefix=""):
                return self.inner.entries(prefix)
            def write_once(self, key, data):
                self.count += 1
                if self.count == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
                self.inner.write_once(key, data)

        files = {"a.bin": b"a" * 1000, "b.bin": b"b" * 1000, "c.bin": b"c" * 1000}
        artifact.publish(Crash(store.open_store(sys.argv[1])), files, {"versionId": "v1"})
        """
    )
    result = subprocess.run([sys.executable, "-c", script, uri], capture_output=True, timeout=60)
    assert result.returncode == -9, result.stderr.decode()
    left = open_store(uri).list()
    assert left == ["a.bin", MANIFEST]
    assert sorted(os.listdir(uri)) == ["a.bin", MANIFEST]  # no temporary file either
    with pytest.raises(ModelNotReadyError, match=r"no _COMPLETE yet \(2 files so far\)"):
        artifact.verify(uri)
    with pytest.raises(VersionExistsError, match="unfinished publish"):
        artifact.ensure_empty(uri)


@pytest.mark.parametrize(
    ("key", "replacement", "problem"),
    [
        ("user_embeddings.npy", os.urandom(4096), "does not match the sha256"),
        ("item_ids.json", b"[]", "has 2 bytes, the manifest says"),
        ("extra/notes.txt", None, "is listed in the manifest but missing"),
        (MANIFEST, b"{}", f"does not match the sha256 recorded in {COMPLETE}"),
        (COMPLETE, b"garbage", "is not a valid commit marker"),
    ],
)
def test_a_tampered_version_fails_verify_and_wait(models_uri, overwrite, key, replacement, problem):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    artifact.publish(uri, model_files(), model_manifest())
    overwrite(uri, key, replacement)

    with pytest.raises(ModelCorruptError) as caught:
        artifact.verify(uri)
    assert f"{uri}/{key} {problem}" in str(caught.value)
    assert "new build number" in str(caught.value)
    started = time.monotonic()
    with pytest.raises(ModelCorruptError, match=problem):
        artifact.wait(uri, timeout=60)
    assert time.monotonic() - started < 10, "a corrupt version must fail at once, not time out"
    with pytest.raises(ModelCorruptError):
        artifact.read_verified(uri)


def test_wait_returns_once_another_thread_completes_a_publish(models_uri, caplog):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    files = model_files()

    def publish_later():
        time.sleep(1.0)
        artifact.publish(uri, files, model_manifest())

    publisher = threading.Thread(target=publish_later)
    started = time.monotonic()
    publisher.start()
    try:
        with caplog.at_level(logging.INFO, logger="mlrelease.store.artifact"):
            manifest = artifact.wait(uri, timeout=30, initial_delay=0.1, max_delay=0.4)
    finally:
        publisher.join(timeout=60)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 20
    assert manifest["files"]["user_embeddings.npy"]["size"] == 4096
    attempts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("attempt")]
    assert len(attempts) >= 3
    assert "holds nothing yet" in attempts[0] and "retrying in" in attempts[0]
    assert attempts[-1].endswith("is complete and verified")


def test_wait_times_out_on_an_empty_folder(models_uri, caplog):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    started = time.monotonic()
    with (
        caplog.at_level(logging.INFO, logger="mlrelease.store.artifact"),
        pytest.raises(ModelWaitTimeoutError) as caught,
    ):
        artifact.wait(uri, timeout=1.0, initial_delay=0.1, max_delay=0.3)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 6
    assert f"gave up waiting for {uri} after 1s" in str(caught.value)
    assert "--timeout" in str(caught.value)
    assert sum("retrying in" in r.getMessage() for r in caplog.records) >= 3


def test_wait_keeps_polling_through_storage_errors(monkeypatch, no_azure_env, nowhere):
    connection_string, key = nowhere
    monkeypatch.setenv(CONNECTION_STRING_ENV, connection_string)
    store = open_store("az://models/recommender/v1", retries=0)
    with pytest.raises(ModelWaitTimeoutError) as caught:
        artifact.wait(store, timeout=1.0, initial_delay=0.1, max_delay=0.3)
    assert "last status: cannot list az://models/recommender/v1" in str(caught.value)
    assert key not in str(caught.value)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    import random

    delays = artifact.backoff_delays(1, 30, random.Random(7))
    values = [next(delays) for _ in range(10)]
    ceilings = [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
    for value, ceiling in zip(values, ceilings, strict=True):
        assert ceiling * 0.5 <= value <= ceiling
    assert len(set(values[5:])) == 5, "jitter spreads pods that start together"


@pytest.mark.parametrize(
    ("files", "manifest", "message"),
    [
        ({}, {}, "at least one file"),
        ({MANIFEST: b"{}"}, {}, "reserved"),
        ({COMPLETE: b""}, {}, "reserved"),
        ({"../up.bin": b""}, {}, "not a relative path"),
        ({"a.bin": "text"}, {}, "must be bytes"),
        ({"a.bin": b""}, {"when": object()}, "not plain JSON"),
        ({"a.bin": b""}, {"auc": float("nan")}, "not plain JSON"),
        ({"a.bin": b""}, {"formatVersion": 2}, "leave it out"),
    ],
)
def test_bad_publish_input_writes_nothing(tmp_path, files, manifest, message):
    uri = str(tmp_path / "v1")
    with pytest.raises(InputError, match=message):
        artifact.publish(uri, files, manifest)
    assert not os.path.exists(uri)


def test_a_manifest_never_carries_the_storage_key(tmp_path, monkeypatch, nowhere):
    connection_string, _key = nowhere
    monkeypatch.setenv(CONNECTION_STRING_ENV, connection_string)
    uri = str(tmp_path / "v1")
    with pytest.raises(InputError, match="storage credential"):
        artifact.publish(uri, {"a.bin": b"a"}, {"data": {"uri": connection_string}})
    assert not os.path.exists(uri)


@pytest.mark.parametrize("bad", ["", "a/b", ".."])
def test_version_uri_rejects_bad_segments(bad):
    with pytest.raises(InputError, match="one non-empty path segment"):
        artifact.version_uri("az://models", bad, "v1")


# --- download: the pod's one local copy ------------------------------------------------------


def test_download_copies_a_verified_version_that_verify_accepts(models_uri, tmp_path):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    files = model_files()
    published = artifact.publish(uri, files, model_manifest())
    into = tmp_path / "pod" / "v1"

    manifest = artifact.download(uri, into)

    assert manifest == published
    assert open_store(str(into)).list() == sorted([*files, MANIFEST, COMPLETE])
    for name, data in files.items():
        assert (into / name).read_bytes() == data
    assert artifact.verify(str(into)) == published
    assert (into / "user_embeddings.npy").stat().st_mode & 0o222 == 0
    assert os.listdir(into.parent) == ["v1"], "no staging folder is left behind"


def test_download_again_into_the_same_copy_keeps_it(models_uri, tmp_path):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    artifact.publish(uri, model_files(), model_manifest())
    into = tmp_path / "v1"
    artifact.download(uri, into)
    before = {path: path.stat().st_mtime_ns for path in into.rglob("*")}
    artifact.download(uri, into)  # a restarted pod runs its init container again
    assert {path: path.stat().st_mtime_ns for path in into.rglob("*")} == before


def test_download_refuses_a_folder_holding_anything_else(models_uri, tmp_path):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    artifact.publish(uri, model_files(), model_manifest())
    into = tmp_path / "v1"
    into.mkdir()
    (into / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not empty and is not a verified copy"):
        artifact.download(uri, into)
    assert os.listdir(into) == ["notes.txt"]


def test_download_into_an_empty_folder_fills_it(models_uri, tmp_path):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    artifact.publish(uri, model_files(), model_manifest())
    into = tmp_path / "v1"
    into.mkdir()
    artifact.download(uri, into)
    assert artifact.verify(str(into))["versionId"] == model_manifest()["versionId"]


def test_a_tampered_version_is_never_downloaded(models_uri, overwrite, tmp_path):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    artifact.publish(uri, model_files(), model_manifest())
    overwrite(uri, "user_embeddings.npy", os.urandom(4096))
    into = tmp_path / "pod" / "v1"
    with pytest.raises(ModelCorruptError, match=r"user_embeddings\.npy does not match"):
        artifact.wait(uri, timeout=60, into=into)
    assert os.listdir(tmp_path / "pod") == [], "nothing, not even a partial copy, is left"


def test_an_unfinished_version_is_not_downloaded(models_uri, tmp_path):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    open_store(uri).write_once("user_embeddings.npy", b"partial")
    with pytest.raises(ModelNotReadyError):
        artifact.download(uri, tmp_path / "v1")
    assert not (tmp_path / "v1").exists()


def test_download_removes_a_partial_copy_left_by_a_stopped_init_container(models_uri, tmp_path):
    uri = artifact.version_uri(models_uri, "recommender", "v1")
    artifact.publish(uri, model_files(), model_manifest())
    leftover = tmp_path / "pod" / ".v1.partial-0123456789ab"
    leftover.mkdir(parents=True)
    (leftover / "user_embeddings.npy").write_bytes(b"half")
    artifact.download(uri, tmp_path / "pod" / "v1")
    assert os.listdir(tmp_path / "pod") == ["v1"]
