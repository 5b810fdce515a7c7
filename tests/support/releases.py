"""The build and release pipelines' jobs, compiled from the YAML and run against a test cluster.

- `package()` runs build-train.yml's Package job (values files, packaged charts, scripts) for
  a build number and keeps its `release` artifact, as the service does between runs.
- `train()` runs the Train job: `helm upgrade --install training-<id>`, the Job wait, the
  model checks. The simulated kubelet runs no container, so a hook runs the trainer this
  machine's way, with the env of the live Job's pod template (Secret references resolved
  from the live Secret), before the pipeline's own `mlrelease model verify`.
- `release()` runs one environment's deployment job of release.yml: scoring install and
  `helm test`, the saved routing, the traffic plan, the first routing or each canary step,
  and, when a step fails, the `on: failure` steps that restore the routing.

Variables are variables.yml's, with shorter timeouts; secrets come from the Azurite the
tests start (storageConnectionString) and never appear in a command line.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mlrelease.sampledata import write_synthetic_export
from support import agent
from support.cluster import ControlPlane
from support.pipelines import PIPELINES, REPO, load

DATA_DAY = date(2026, 11, 27)
DATA_PREFIX = "2026/11/27"
# Timeouts short enough for a test, long enough for a loaded two-core machine.
TEST_VARIABLES = {"helmTimeout": "240s", "trainingTimeout": "240s"}
# Steps that would change the test's own Python environment: mlrelease is already installed.
SKIPPED = {
    "Install mlrelease": "mlrelease is the test environment's own install",
    "Build the mlrelease wheel": "the release installs no wheel here (see 'Install mlrelease')",
}
SECRET_KEY = "connection-string"


def compile_variables() -> dict[str, str]:
    variables = load(PIPELINES / "variables.yml")["variables"]
    return {**{k: v for k, v in variables.items() if isinstance(v, str)}, **TEST_VARIABLES}


def _job(stages: list[dict], template: str) -> dict:
    for stage in stages:
        for job in stage.get("jobs", []):
            if job.get("template", "").endswith(template):
                return job
    raise AssertionError(f"no job template {template}")


@dataclass
class Build:
    number: str
    version_id: str
    artifact: Path


class Pipelines:
    def __init__(self, cluster: ControlPlane, root: Path, connection_string: str = "") -> None:
        self.cluster = cluster
        self.root = root
        self.connection_string = connection_string
        self.artifacts: dict[str, dict[str, Path]] = {}
        self.agents: list[agent.Agent] = []

    def runtime_variables(self, workspace: Path, **extra: str) -> dict[str, str]:
        return {
            **compile_variables(),
            "Pipeline.Workspace": str(workspace),
            "Agent.TempDirectory": str(workspace / "_temp"),
            "System.StageAttempt": "1",
            "System.JobAttempt": "1",
            "storageConnectionString": self.connection_string,
            "dataPrefix": DATA_PREFIX,
            **extra,
        }

    def new_agent(self, name: str, variables: dict[str, str], **kwargs) -> agent.Agent:
        workspace = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))
        runner = agent.Agent(
            variables={**self.runtime_variables(workspace), **variables},
            env=self.cluster.env(),
            workspace=workspace,
            skipped=SKIPPED,
            **kwargs,
        )
        self.agents.append(runner)
        return runner

    # --- build-train.yml ------------------------------------------------------------------

    def build_stages(self) -> list[dict]:
        path = PIPELINES / "build-train.yml"
        return agent.compile_template(path, {}, compile_variables())["stages"]

    def package(
        self,
        build_number: str,
        *,
        values: Callable[[Path], None] | None = None,
        provenance: dict[str, str] | None = None,
    ) -> Build:
        """Run the Package job; `values` may edit the artifact's values files afterwards."""
        job = _job(self.build_stages(), "jobs/package.yml")
        path = (PIPELINES / job["template"]).resolve()
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=self.root))
        runner = self.new_agent(
            "package",
            {
                "Build.BuildNumber": build_number,
                "Build.ArtifactStagingDirectory": str(staging),
                **(provenance or {}),
            },
            cwd=REPO,
        )
        rendered = agent.compile_template(path, job["parameters"], compile_variables())
        (values_job,) = rendered["jobs"]
        steps = agent.job_steps(path, values_job["steps"], compile_variables())
        assert runner.run(steps), runner.report()
        artifact = runner.artifacts["release"]
        if values:
            values(artifact)
        return Build(build_number, runner.variables["versionId"], artifact)

    def train(self, build: Build, *, hooks: dict[str, Callable[[], None]] | None = None):
        job = _job(self.build_stages(), "jobs/train.yml")
        path = (PIPELINES / job["template"]).resolve()
        parameters = {**job["parameters"], "versionId": build.version_id}
        rendered = agent.compile_template(path, parameters, compile_variables())
        (train_job,) = rendered["jobs"]
        hooks = hooks or {}
        runner = self.new_agent(
            "train",
            {"versionId": build.version_id},
            artifacts={"release": build.artifact},
            before_step=lambda name: hooks[name]() if name in hooks else None,
        )
        runner.variables.update(
            {k: runner.macro(v) for k, v in (train_job.get("variables") or {}).items()}
        )
        runner.run(agent.job_steps(path, train_job["steps"], compile_variables()))
        return runner

    # --- release.yml ----------------------------------------------------------------------

    def release(
        self,
        build: Build,
        environment: str,
        *,
        overrides: dict | None = None,
        variables: dict[str, str] | None = None,
        before_step: Callable[[str], None] | None = None,
    ) -> agent.Agent:
        """Run one environment's deployment job for a build, then its failure steps if it failed."""
        release = agent.render(load(PIPELINES / "release.yml"), {"variables": compile_variables()})
        (reference,) = [s for s in release["stages"] if s["parameters"]["name"] == environment]
        stage_path = (PIPELINES / reference["template"]).resolve()
        parameters = {**reference["parameters"], **(overrides or {})}
        (stage,) = agent.compile_template(stage_path, parameters, compile_variables())["stages"]
        (deployment,) = stage["jobs"]
        runner = self.new_agent(
            f"release-{environment}",
            {"resources.pipeline.build.runName": build.number, **(variables or {})},
            artifacts={"release": build.artifact},
            before_step=before_step,
        )
        # The pipeline resource's artifact downloads to <workspace>/<alias>/<artifact>.
        runner.variables.update(
            {k: runner.macro(v) for k, v in (deployment.get("variables") or {}).items()}
        )
        strategy = deployment["strategy"]["runOnce"]
        steps = agent.job_steps(stage_path, strategy["deploy"]["steps"], compile_variables())
        if not runner.run(steps):
            # The service publishes the job's artifacts to the run; the failure steps download them.
            failure = agent.job_steps(
                stage_path, strategy["on"]["failure"]["steps"], compile_variables()
            )
            runner.failed = False
            runner.failure_log_start = len(runner.log)
            runner.run(failure)
            runner.failed = True
        return runner

    # --- what a kubelet would have run ------------------------------------------------------

    def run_training_pod(self, namespace: str, job_name: str) -> subprocess.CompletedProcess:
        """Run the trainer with the env of the live Job's container, as its pod would have."""
        job = self.cluster.get("job", job_name, namespace)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.root)}
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = variable["value"]
            else:
                ref = variable["valueFrom"]["secretKeyRef"]
                secret = self.cluster.kubectl(
                    "get", "secret", ref["name"], "-n", namespace,
                    "-o", f"jsonpath={{.data.{ref['key']}}}",
                ).stdout  # fmt: skip
                env[variable["name"]] = base64.b64decode(secret).decode()
        return subprocess.run(
            [sys.executable, "-m", "training"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def upload_export(connection_string: str, root: Path) -> None:
    """The ETL's export of the data day: synthetic interactions under az://etl/interactions/."""
    from azure.storage.blob import BlobServiceClient

    folder = write_synthetic_export(
        root, users=150, items=60, interactions_per_user=12, files=2, day=DATA_DAY
    )
    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.get_container_client("etl")
    if not container.exists():
        container.create_container()
    for file in sorted(folder.iterdir()):
        with file.open("rb") as data:
            container.upload_blob(f"interactions/{DATA_PREFIX}/{file.name}", data, overwrite=True)


def create_storage_secret(cluster: ControlPlane, namespace: str, connection_string: str) -> None:
    """The Secret an operator creates once per namespace (variables.yml's storageSecretName)."""
    name = compile_variables()["storageSecretName"]
    if not cluster.kubectl("get", "secret", name, "-n", namespace, check=False).returncode:
        return
    cluster.kubectl(
        "create", "secret", "generic", name, "-n", namespace,
        f"--from-literal={SECRET_KEY}={connection_string}",
    )  # fmt: skip


def helm(cluster: ControlPlane, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["helm", *args], env=cluster.env(), capture_output=True, text=True, timeout=300
    )


def helm_json(cluster: ControlPlane, *args: str):
    result = helm(cluster, *args, "--output", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def clean(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
