"""`mlrelease model wait|verify|show` run as a subprocess, as the init container runs it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli import run_mlrelease

from mlrelease.store import ACCOUNT_URL_ENV, CONNECTION_STRING_ENV, artifact, open_store

MANIFEST = {
    "modelName": "recommender",
    "versionId": "20261127-3",
    "buildNumber": "20261127.3",
    "createdAt": "2026-11-27T02:10:00Z",
    "provenance": {
        "buildNumber": "20261127.3",
        "buildId": "1234",
        "commit": "9f8e7d6c5b4a",
        "branch": "refs/heads/main",
        "pullRequest": "57",
        "requestedFor": "Build Service",
        "reason": "IndividualCI",
        "buildUrl": "https://dev.azure.com/contoso/recs/_build/results?buildId=1234",
    },
    "data": {
        "uri": "az://exports/2026/11/27",
        "files": [{"path": "interactions-1.csv", "size": 52431, "sha256": "ab" * 32}],
        "rows": 6000,
        "users": 300,
        "items": 200,
    },
    "hyperparameters": {"loss": "warp", "components": 32, "learningRate": 0.05},
    "metrics": {"k": 10, "precisionAtK": 0.3125, "recallAtK": 0.2, "auc": 0.91},
    "libraries": {"python": "3.11.7", "lightfm": "1.19.0", "numpy": "2.2.6"},
}
FAST = ("--initial-delay", "0.2", "--max-delay", "0.5")
FILES = {"user_embeddings.npy": b"\x93NUMPY" + bytes(2000), "item_ids.json": b'["i1", "i2"]'}


def mlrelease(*args: str, env: dict[str, str], timeout: float = 60):
    return run_mlrelease("model", *args, env=env, timeout=timeout)


@pytest.fixture
def published(models_uri):
    uri = artifact.version_uri(models_uri, "recommender", "20261127-3")
    artifact.publish(uri, FILES, MANIFEST)
    return uri


def test_verify_and_wait_succeed_on_a_published_version(published, cli_env):
    result = mlrelease("verify", published, env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{published}: ok, 2 files verified\n"
    result = mlrelease("wait", published, "--timeout", "30", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{published}: ready, 2 files verified\n"
    assert "attempt 1: " in result.stderr and "complete and verified" in result.stderr


def test_wait_into_a_folder_leaves_a_verified_local_copy(published, cli_env, tmp_path):
    into = tmp_path / "pod-model" / "20261127-3"
    result = mlrelease("wait", published, "--timeout", "30", "--into", str(into), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{published}: ready, 2 files verified, copied to {into}\n"
    assert {name: (into / name).read_bytes() for name in FILES} == FILES
    result = mlrelease("verify", str(into), env=cli_env)
    assert result.returncode == 0, result.stderr


def test_wait_into_a_folder_holding_other_files_exits_2(published, cli_env, tmp_path):
    into = tmp_path / "pod-model"
    into.mkdir()
    (into / "mine.txt").write_text("keep me")
    result = mlrelease("wait", published, "--timeout", "30", "--into", str(into), env=cli_env)
    assert result.returncode == 2
    assert "is not empty and is not a verified copy" in result.stderr
    assert os.listdir(into) == ["mine.txt"]


def test_show_prints_a_readable_summary(published, cli_env):
    result = mlrelease("show", published, env=cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Model", "recommender", "20261127-3"]
    for expected in (
        f"Location         {published}",
        "Build            20261127.3  https://dev.azure.com/contoso/recs/_build/results?buildId=1234",
        "Commit           9f8e7d6c5b4a on refs/heads/main (pull request 57)",
        "Created          2026-11-27T02:10:00Z",
        "Data             az://exports/2026/11/27 (1 files, 6000 rows, 300 users, 200 items)",
        "                   interactions-1.csv  51.2 KB  sha256 abababababab",
        "Metrics          precision@10 0.3125  recall@10 0.2  AUC 0.91",
        "Hyperparameters  components=32  learningRate=0.05  loss=warp",
        "Libraries        lightfm=1.19.0  numpy=2.2.6  python=3.11.7",
        "                   user_embeddings.npy  2.0 KB",
    ):
        assert expected in lines, f"{expected!r} not in:\n{result.stdout}"


def test_show_json_prints_the_manifest(published, cli_env):
    result = mlrelease("show", published, "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == artifact.verify(published)
    assert json.loads(result.stdout)["files"]["item_ids.json"]["size"] == 12


def test_wait_exits_when_the_training_job_publishes(models_uri, cli_env):
    uri = artifact.version_uri(models_uri, "recommender", "20261127-3")
    waiter = subprocess.Popen(
        [sys.executable, "-m", "mlrelease", "model", "wait", uri, "--timeout", "60", *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
    )
    try:
        first_attempt = waiter.stderr.readline()
        assert "attempt 1: " in first_attempt and "holds nothing yet" in first_attempt
        time.sleep(0.5)
        assert waiter.poll() is None, "wait must block while the folder is empty"
        artifact.publish(uri, FILES, MANIFEST)
        stdout, stderr = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 0, stderr
    assert "retrying in" in stderr
    assert stdout == f"{uri}: ready, 2 files verified\n"


def test_wait_times_out_with_exit_1(models_uri, cli_env):
    uri = artifact.version_uri(models_uri, "recommender", "20261127-3")
    open_store(uri).write_once("user_embeddings.npy", b"partial")
    started = time.monotonic()
    result = mlrelease(
        "wait", uri, "--timeout", "1", "--initial-delay", "0.1", "--max-delay", "0.2", env=cli_env
    )
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    assert f"gave up waiting for {uri} after 1s" in result.stderr
    assert "no _COMPLETE yet (1 files so far)" in result.stderr
    assert result.stdout == ""


def test_a_tampered_version_fails_at_once_with_exit_1(published, overwrite, cli_env):
    overwrite(published, "user_embeddings.npy", b"\x93NUMPY" + bytes(1999) + b"\x01")
    started = time.monotonic()
    result = mlrelease("wait", published, "--timeout", "300", env=cli_env)
    assert result.returncode == 1
    assert time.monotonic() - started < 20, "must not wait for the timeout"
    assert f"{published}/user_embeddings.npy does not match the sha256" in result.stderr
    for command in ("verify", "show"):
        result = mlrelease(command, published, env=cli_env)
        assert result.returncode == 1
        assert "user_embeddings.npy does not match the sha256" in result.stderr
        assert result.stdout == ""


def test_verify_of_an_unfinished_version_exits_1(models_uri, cli_env):
    uri = artifact.version_uri(models_uri, "recommender", "20261127-3")
    open_store(uri).write_once("manifest.json", b"{}")
    result = mlrelease("verify", uri, env=cli_env)
    assert result.returncode == 1
    assert "has no _COMPLETE yet" in result.stderr


@pytest.fixture
def plain_env():
    return {
        k: v for k, v in os.environ.items() if k not in (CONNECTION_STRING_ENV, ACCOUNT_URL_ENV)
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "s3://bucket/models"], "unsupported scheme 's3'"),
        (["show", "az://models/recommender/v1"], CONNECTION_STRING_ENV),
        (["wait", "az://models/recommender/v1"], ACCOUNT_URL_ENV),
        (["wait", "models", "--timeout", "-1"], "not a number of seconds >= 0"),
        (["wait", "models", "--timeout", "soon"], "not a number of seconds >= 0"),
        (["wait", "models", "--initial-delay", "0"], "must be more than 0 seconds"),
        (["wait", "models", "--initial-delay", "5", "--max-delay", "1"], "lower it or raise"),
        (["verify"], "give the version folder: URI, or all of"),
    ],
)
def test_bad_input_exits_2(args, message, plain_env, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mlrelease", "model", *args],
        capture_output=True,
        text=True,
        env=plain_env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not Path(tmp_path, "models").exists()
