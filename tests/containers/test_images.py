"""Smoke tests on the built images, run the way the charts run them.

The training image trains and publishes into a bind-mounted local store, the scoring image's
`mlrelease model wait` accepts the version and its gunicorn server answers on 127.0.0.1.
"""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from support.containers import CONTAINER_USER, MODEL_NAME, RUN_FLAGS

from mlrelease.store import artifact

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("image", "command"),
    [("training", ["python", "-m", "training"]), ("scoring", ["python", "-m", "scoring"])],
)
def test_image_runs_as_the_charts_user_with_the_charts_command(docker, images, image, command):
    inspected = docker.run("image", "inspect", getattr(images, image)).stdout
    config = json.loads(inspected)[0]["Config"]
    assert config["User"] == CONTAINER_USER
    assert config["Cmd"] == command
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"]
    assert "/tmp" in (config.get("Volumes") or {})


# Walks the image's own file system (not /proc, /sys, /dev or the /tmp volume) as UID 10001.
_WRITABLE = """
import os
skip = ("/proc", "/sys", "/dev", "/tmp")
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip]
    for path in (os.path.join(top, name) for name in dirs + files):
        if not os.path.islink(path) and os.access(path, os.W_OK):
            print(path)
"""


@pytest.mark.parametrize("image", ["training", "scoring"])
def test_image_has_nothing_writable_for_its_user_but_tmp(docker, images, image):
    # Without --read-only: the image itself must not rely on the chart to protect it.
    proc = docker.run(
        "run", "--rm", "--network", "none", getattr(images, image), "python", "-c", _WRITABLE
    )
    assert proc.stdout.split() == []


def test_training_image_runs_lightfm_with_openmp_on_its_own_base(docker, images):
    # Compiled in the image build on this base; the OpenMP runtime travels inside the wheel.
    proc = docker.run(
        "run",
        *RUN_FLAGS,
        "--network",
        "none",
        images.training,
        "python",
        "-W",
        "error",
        "-c",
        "import lightfm, lightfm._lightfm_fast_openmp; print(lightfm.__version__)",
    )
    assert proc.stdout.strip() == "1.19.0", proc.stderr


def test_training_image_publishes_a_verified_version(published):
    assert published.training.returncode == 0, published.training.stderr[-4000:]
    manifest = artifact.verify(str(published.uri))
    assert manifest["versionId"] == published.version_id
    assert manifest["modelName"] == MODEL_NAME
    assert "user_embeddings.npy" in manifest["files"]
    # Written by the container's user, not by root: the image really runs as 10001.
    assert (published.uri / artifact.COMPLETE).stat().st_uid == 10001


def _wait(docker, images, published, uri: str, timeout: str) -> subprocess.CompletedProcess:
    return docker.run(
        "run",
        *RUN_FLAGS,
        "--network",
        "none",
        "--volume",
        f"{published.models}:/models:ro",
        images.scoring,
        "mlrelease",
        "model",
        "wait",
        uri,
        "--timeout",
        timeout,
        timeout=120,
        check=False,
    )


def test_model_wait_in_scoring_image_returns_once_version_is_complete(docker, images, published):
    uri = f"/models/{MODEL_NAME}/{published.version_id}"
    proc = _wait(docker, images, published, uri, "60")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ready" in proc.stdout


def test_model_wait_in_scoring_image_fails_for_a_version_never_published(docker, images, published):
    proc = _wait(docker, images, published, f"/models/{MODEL_NAME}/v-never-built", "2")
    assert proc.returncode != 0
    assert "v-never-built" in proc.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_scoring_image_serves_the_published_version(docker, images, published):
    assert published.training.returncode == 0, "training failed; see the training test"
    port = _free_port()
    name = f"mlrelease-scoring-smoke-{port}"
    flags = [flag for flag in RUN_FLAGS if flag != "--rm"]
    env = {
        "MODEL_URI": f"/models/{MODEL_NAME}/{published.version_id}",
        "MODEL_VERSION": published.version_id,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
    }
    docker.run(
        "run",
        "--detach",
        "--name",
        name,
        *flags,
        "--network",
        "host",
        "--volume",
        f"{published.models}:/models:ro",
        *(arg for key, value in env.items() for arg in ("--env", f"{key}={value}")),
        images.scoring,
        "python",
        "-m",
        "scoring",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                status, _, _ = _get(f"{base}/readyz")
            except OSError:
                status = None
            if status == 200:
                break
            running = docker.run("inspect", "--format", "{{.State.Running}}", name).stdout
            assert running.strip() == "true", docker.run("logs", name, check=False).stderr
            time.sleep(0.5)
        assert status == 200, docker.run("logs", name, check=False).stderr

        status, headers, body = _get(f"{base}/recommendations/u0001?k=5")
        assert status == 200, body
        assert headers["X-Model-Version"] == published.version_id
        answer = json.loads(body)
        assert answer["version"] == published.version_id
        assert answer["fallback"] is None, "u0001 is in the training data, so no fallback"
        scores = [item["score"] for item in answer["items"]]
        assert len(scores) == 5
        assert scores == sorted(scores, reverse=True)
    finally:
        docker.run("rm", "--force", name, check=False)
