"""Fixtures for the container smoke tests: a Docker daemon, the images, a trained model.

The images are built from a clean checkout of HEAD (`git archive`), by the image job's own script
steps, read from the pipeline YAML and run as the agent runs them: the same `bash` command lines
from the checkout's root, with the same environment (base image, tags). So the smoke tests run on
exactly what the pipeline would push, and a file the build needs but git does not hold fails
them. Uncommitted changes are not in these images; commit first.

Docker: a daemon that already answers (DOCKER_HOST or the default socket, as on a pipeline agent)
is used, with the pipeline's base image. Otherwise `build_images.sh start-daemon` starts a private
dockerd for this session (no bridge network, its own socket and data root; needs root), and as no
registry is assumed reachable then, the base image is the script's local debootstrap one (`base`);
that is the one value that differs from the pipeline's (the JUnit report records it). The script
reuses images already built from the same sources, so only the first run pays for the build.
Containers run the way the charts run them: UID/GID 10001, read-only root filesystem, a tmpfs at
/tmp, no capabilities, and `--network none` or `--network host`, never Docker's default bridge.

Where Docker cannot run (no root to start dockerd, no docker.io), the tests say so plainly: they
fail when `CI` or `TF_BUILD` (Azure Pipelines) is set, and skip with the reason otherwise.
"""

import io
import os
import shutil
import subprocess
import tarfile
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
    REPO,
    RUN_FLAGS,
    SCRIPT,
    images_job_scripts,
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
    """A `docker` client bound to one daemon; host None is the client's default."""

    host: str | None
    private: bool

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.host:
            env["DOCKER_HOST"] = self.host
        return env

    def run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout
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


def _answers(env: dict[str, str]) -> bool:
    try:
        proc = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    if shutil.which("docker") and _answers(dict(os.environ)):
        yield Docker(os.environ.get("DOCKER_HOST"), private=False)
        return
    if os.environ.get("DOCKER_HOST"):
        _unavailable(f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer")
    if os.geteuid() != 0:
        _unavailable("no Docker daemon answers, and starting a private dockerd needs root")
    proc = subprocess.run(
        ["bash", str(SCRIPT), "start-daemon"], capture_output=True, text=True, timeout=600
    )
    if proc.returncode == 3:
        _unavailable(_script_reason(proc.stderr))
    if proc.returncode != 0:
        pytest.fail(f"{SCRIPT.name} start-daemon failed:\n{proc.stderr}", pytrace=False)
    try:
        yield Docker(proc.stdout.strip(), private=True)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop-daemon"], timeout=120, check=False)


def _checkout_head(destination: Path) -> Path:
    """HEAD's tree, as `git archive` exports it: only what git holds."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="tar")
    return destination


def _run_step(docker: Docker, checkout: Path, script: str, env: dict[str, str]) -> str:
    """A script step as the agent runs it: bash, errexit and pipefail, from the checkout's root."""
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        cwd=checkout,
        env={**docker.env, **env},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    if proc.returncode == 3:
        _unavailable(_script_reason(proc.stderr))
    if proc.returncode != 0:
        pytest.fail(
            f"`{script}` with {env} exited {proc.returncode}:\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return proc.stdout


@pytest.fixture(scope="session")
def images(docker: Docker, tmp_path_factory, record_testsuite_property) -> Images:
    """The pipeline's image builds, run on a clean checkout of HEAD."""
    checkout = _checkout_head(tmp_path_factory.mktemp("checkout"))
    builds = [step for step in images_job_scripts() if " build " in f"{step.script} "]
    assert builds, "the image job has no `build_images.sh build` step"
    base = None
    if docker.private:
        # A private daemon reaches no registry: the script's local bookworm base stands in.
        base = _run_step(docker, checkout, f"bash {SCRIPT.relative_to(REPO)} base", {}).strip()
        record_testsuite_property("base_image", f"{base} (standing in for the pipeline's)")
    tags = {}
    for step in builds:
        env = {**step.env, "BASE_IMAGE": base} if base else step.env
        _run_step(docker, checkout, step.script, env)
        tags[Path(step.env["DOCKERFILE"]).parent.name] = step.env["IMAGE"]
    return Images(training=tags["training"], scoring=tags["scoring"])


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
