"""Fixtures for the scoring tests: a model trained by the real training code, real servers.

The model is made once per test run by `python -m training` on a small synthetic export,
so the tests read exactly the files training publishes. Servers are `python -m scoring`
(gunicorn) on 127.0.0.1 and a free port, stopped by PID in teardown even when a test fails.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from mlrelease.sampledata import write_synthetic_export
from mlrelease.store import artifact
from mlrelease.versions import version_id
from scoring import settings

BUILD_NUMBER = "20261127.5"
MODEL_NAME = "recommender"
START_TIMEOUT = 30.0


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process environment without any scoring/training/Azure settings."""
    drop = {*settings.ENV_VARIABLES, "PROMETHEUS_MULTIPROC_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AZURE_")}
    env.update(overrides)
    return env


def train(root: Path, build_number: str = BUILD_NUMBER, **data) -> str:
    """Train and publish a model with the real training code; return its version folder."""
    day = write_synthetic_export(root / "data", **data)
    models = root / "models"
    env = clean_env(
        BUILD_NUMBER=build_number,
        MODEL_NAME=MODEL_NAME,
        DATA_URI=str(day),
        MODELS_URI=str(models),
        MIN_PRECISION_AT_K="0",
        COMPONENTS="8",
        EPOCHS="10",
        SEED="0",
        THREADS="1",
    )
    result = subprocess.run(
        [sys.executable, "-m", "training"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return artifact.version_uri(str(models), MODEL_NAME, version_id(build_number))


@pytest.fixture(scope="session")
def model_uri(tmp_path_factory) -> str:
    return train(tmp_path_factory.mktemp("trained"), users=120, items=80, interactions_per_user=12)


@pytest.fixture(scope="session")
def other_model_uri(tmp_path_factory) -> str:
    """The same users trained on other interactions: a model that answers differently."""
    root = tmp_path_factory.mktemp("other")
    return train(root, "20261127.9", users=120, items=80, interactions_per_user=12, seed=7)


def copy_version(source: str, target: Path, *, complete: bool = True) -> None:
    """Copy a published version the way a publisher writes it: `_COMPLETE` last."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(source).iterdir()):
        if path.name != artifact.COMPLETE:
            shutil.copyfile(path, target / path.name)
    if complete:
        # Atomically, as the store's write_once does: a server polling the folder must
        # never read a half-written commit marker.
        staging = target.parent / f".{target.name}{artifact.COMPLETE}"
        shutil.copyfile(Path(source) / artifact.COMPLETE, staging)
        os.replace(staging, target / artifact.COMPLETE)


class LightFMTwin:
    """A `lightfm.LightFM` carrying a published version's arrays, to compare predict() with."""

    def __init__(self, model_uri: str) -> None:
        from lightfm import LightFM

        from mlrelease.store import modelfiles
        from scoring import model

        self.loaded = model.load(model_uri)
        arrays = {
            spec.name: np.load(Path(model_uri) / spec.name, allow_pickle=False)
            for spec in modelfiles.ARRAYS
        }
        d = arrays["user_embeddings.npy"].shape[1]
        self.model = LightFM(no_components=d)
        # predict() insists on the training buffers too; then the real arrays go in.
        self.model._initialize(d, len(self.loaded.item_ids), len(self.loaded.user_ids))
        for name in ("user_embeddings", "user_biases", "item_embeddings", "item_biases"):
            setattr(self.model, name, arrays[f"{name}.npy"])

    def top_k(self, user: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """LightFM's own ranking: predict over all items, seen items removed, argsort."""
        n_items = len(self.loaded.item_ids)
        scores = self.model.predict(user, np.arange(n_items, dtype=np.int32))
        scores[self.loaded.recommender.seen(user)] = -np.inf
        return np.argsort(-scores, kind="stable")[:k], scores


@pytest.fixture(scope="session")
def lightfm_twin(model_uri) -> LightFMTwin:
    return LightFMTwin(model_uri)


@pytest.fixture
def copy_published():
    """`copy_version(source, target, complete=True)`, for tests that alter a copy."""
    return copy_version


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `python -m scoring` (gunicorn master and workers) on 127.0.0.1."""

    def __init__(self, model_uri: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        variables = {"MODEL_URI": model_uri, "HOST": "127.0.0.1", "PORT": str(self.port)}
        variables.update({"WORKERS": "2", "MODEL_RETRY_SECONDS": "1", **env})
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scoring"],
            env=clean_env(**variables),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)

    def wait_for(self, path: str, status: int, timeout: float = START_TIMEOUT) -> None:
        """Poll `path` until it answers `status`; fail with the server log otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                last = self.get(path)
                if last.status_code == status:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        body = last.text if last is not None else "no answer"
        pytest.fail(f"{path} did not answer {status} in {timeout}s ({body}):\n{self.log()}")

    def wait_for_every_worker(self, path: str, status: int, workers: int = 2) -> None:
        """Workers load on their own: wait until each has answered `status` (bodies name
        the worker), so no later request can reach one that is still loading."""
        deadline = time.monotonic() + START_TIMEOUT
        latest: dict[int, int] = {}
        while len(latest) < workers or set(latest.values()) != {status}:
            if time.monotonic() > deadline:
                pytest.fail(f"{path}: workers answered {latest}, not {status}:\n{self.log()}")
            response = self.get(path)
            latest[response.json()["worker"]] = response.status_code
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


@pytest.fixture
def start_server(tmp_path):
    """Start servers for one test; every one is stopped in teardown."""
    started: list[Server] = []

    def start(model_uri: str, **env: str) -> Server:
        server = Server(model_uri, tmp_path / f"server-{len(started)}.log", **env)
        started.append(server)
        server.wait_for("/healthz", 200)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(model_uri, tmp_path_factory):
    """One ready server over the trained model, shared by a module's read-only tests."""
    log_dir = tmp_path_factory.mktemp("server")
    running = Server(model_uri, log_dir / "server.log", MAX_K="50", MAX_PAIRS="20")
    try:
        running.wait_for("/healthz", 200)
        running.wait_for_every_worker("/readyz", 200)
        yield running
    finally:
        running.stop()
