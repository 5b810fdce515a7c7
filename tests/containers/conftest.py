"""Fixtures for the container smoke tests: a private Docker daemon, the images, a trained model.

The images are built by `build_images.sh`, the script the image build target runs, against a
dockerd it starts for this session (no bridge network, its own socket and data root). The
script reuses images already built from the same sources, so only the first run pays for the
build. Containers run the way the charts run them: UID/GID 10001, read-only root filesystem,
a tmpfs at /tmp, no capabilities, and `--network none` or `--network host`, never Docker's
default bridge.

Where Docker cannot run (no root to start dockerd, no docker.io), the tests say so plainly:
they fail when `CI` is set, and skip with the reason otherwise.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.ci import unavailable
from support.containers import (
    BUILD_NUMBER,
    BUILD_TIMEOUT,
    CONTAINER_USER,
    MODEL_NAME,
    RUN_FLAGS,
    SCRIPT,
)

from mlrelease import sampledata, versions


def _script_reason(stderr: str) -> str:
    """The reason build_images.sh gave for exiting 3, without its log prefix."""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no reason given"
    return last.split("Docker cannot run here: ", 1)[-1]


def _unavailable(reason: str) -> None:
    unavailable(f"Docker cannot run here, so the container smoke tests did not run: {reason}")


@dataclass(frozen=True)
class Docker:
    """A `docker` client bound to one daemon."""

    host: str

    def run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["docker", *args],
            env={**os.environ, "DOCKER_HOST": self.host},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"docker {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}",
                pytrace=False,
            )
        return proc


@dataclass(frozen=True)
class Images:
    training: str
    scoring: str


@dataclass(frozen=True)
class Published:
    """A model version the training image published into a local store."""

    models: Path
    version_id: str
    uri: Path
    training: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    if os.environ.get("DOCKER_HOST"):
        yield Docker(os.environ["DOCKER_HOST"])
        return
    if shutil.which("docker") is None:
        _unavailable("no docker client on PATH; install Debian's docker.io")
    if os.geteuid() != 0:
        _unavailable("starting a private dockerd needs root; run as root or set DOCKER_HOST")
    proc = subprocess.run(
        ["bash", str(SCRIPT), "start-daemon"], capture_output=True, text=True, timeout=600
    )
    if proc.returncode == 3:
        _unavailable(_script_reason(proc.stderr))
    if proc.returncode != 0:
        pytest.fail(f"{SCRIPT.name} start-daemon failed:\n{proc.stderr}", pytrace=False)
    try:
        yield Docker(proc.stdout.strip())
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop-daemon"], timeout=120, check=False)


@pytest.fixture(scope="session")
def images(docker: Docker) -> Images:
    built = Images(
        training=os.environ.get("TRAINING_IMAGE", "mlrelease-training:dev"),
        scoring=os.environ.get("SCORING_IMAGE", "mlrelease-scoring:dev"),
    )
    proc = subprocess.run(
        ["bash", str(SCRIPT), "build"],
        env={
            **os.environ,
            "DOCKER_HOST": docker.host,
            "TRAINING_IMAGE": built.training,
            "SCORING_IMAGE": built.scoring,
        },
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    if proc.returncode == 3:
        _unavailable(_script_reason(proc.stderr))
    if proc.returncode != 0:
        pytest.fail(f"{SCRIPT.name} build failed:\n{proc.stderr[-4000:]}", pytrace=False)
    return built


def _readable_by_all(root: Path) -> None:
    # pytest makes its temporary folders 0700; the container user is not their owner.
    for path in (root, *root.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _writable_by_container(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        uid, gid = (int(part) for part in CONTAINER_USER.split(":"))
        os.chown(path, uid, gid)
        path.chmod(0o755)
    else:
        path.chmod(0o777)


@pytest.fixture(scope="session")
def published(docker: Docker, images: Images, tmp_path_factory) -> Published:
    """Train in the training image on a small synthetic export and publish one version."""
    root = tmp_path_factory.mktemp("container-store")
    exports = root / "exports"
    day = sampledata.write_synthetic_export(exports, users=120, items=80, interactions_per_user=15)
    _readable_by_all(exports)
    models = root / "models"
    _writable_by_container(models)
    version_id = versions.version_id(BUILD_NUMBER)
    data_uri = "/data/" + day.relative_to(exports).as_posix()
    env = {
        "BUILD_NUMBER": BUILD_NUMBER,
        "MODEL_NAME": MODEL_NAME,
        "DATA_URI": data_uri,
        "MODELS_URI": "/models",
        "EPOCHS": "5",
        "COMPONENTS": "8",
    }
    training = docker.run(
        "run",
        *RUN_FLAGS,
        "--network",
        "none",
        "--volume",
        f"{exports}:/data:ro",
        "--volume",
        f"{models}:/models",
        *(arg for name, value in env.items() for arg in ("--env", f"{name}={value}")),
        images.training,
        "python",
        "-m",
        "training",
        timeout=600,
        check=False,
    )
    return Published(
        models=models,
        version_id=version_id,
        uri=models / MODEL_NAME / version_id,
        training=training,
    )
