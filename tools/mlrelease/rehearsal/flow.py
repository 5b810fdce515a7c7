"""The release flow of the pipelines, rehearsed: build A, build B, canary, A/B rule, promotion.

Each step uses the same commands the pipelines run (`mlrelease values`, `mlrelease traffic`)
and the same charts, rendered on the real Helm engine; the processes the manifests
describe then run on this machine against a local model store.
"""

import contextlib
import dataclasses
import io
import json
import os
import random
import socket
import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import requests

from mlrelease import sampledata
from mlrelease.cli import main as mlrelease
from mlrelease.errors import MlreleaseError
from mlrelease.rehearsal import manifests
from mlrelease.rehearsal.azurite import INSTALL_HINT, Azurite, find_azurite
from mlrelease.rehearsal.mesh import Mesh
from mlrelease.rehearsal.processes import ProcessGroup, wait_ready
from mlrelease.store import CONNECTION_STRING_ENV, artifact, open_store
from mlrelease.values import helm, yamlio
from mlrelease.versions import version_id

NAMESPACE = "mlrelease-demo"
MODEL_NAME = "recommender"
AB_HEADER, AB_VALUE = "x-user-group", "beta"


@dataclasses.dataclass
class Build:
    """One rehearsed build: its number, id, where its model went and how to reach it."""

    number: str
    version: str
    model_uri: str = ""
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    port: int = 0
    users: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Observation:
    """What real requests saw under one routing values file."""

    title: str
    configured: dict[str, int]
    observed: Counter
    requests: int
    ab_observed: Counter
    ab_requests: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, camelCase like the other documents."""
        return {
            "title": self.title,
            "configured": self.configured,
            "observed": dict(self.observed),
            "requests": self.requests,
            "abObserved": dict(self.ab_observed),
            "abRequests": self.ab_requests,
        }


class Rehearsal:
    """Runs the flow in `workdir`; `say` prints one report line."""

    def __init__(
        self,
        repo: Path,
        workdir: Path,
        say: Callable[[str], None],
        requests_per_split: int,
        store: str = "local",
    ) -> None:
        self.repo = repo
        self.workdir = workdir
        self.say = say
        self.requests_per_split = requests_per_split
        self.store = store
        self.models_uri = str(workdir / "models")
        self.secrets: dict[str, dict[str, str]] = {}
        self.storage_flags: list[str] = []
        self.rng = random.Random(20261127)
        self.observations: list[Observation] = []
        self.provenance_flags = _git_provenance_flags(repo)

    def run(self, build_numbers: tuple[str, str]) -> list[Build]:
        """The whole flow; every process it starts is stopped before it returns or raises."""
        builds = [Build(number, version_id(number)) for number in build_numbers]
        with contextlib.ExitStack() as stack:
            processes = stack.enter_context(ProcessGroup(self.workdir / "logs"))
            data_uri = self._export_data()
            if self.store == "azurite":
                data_uri = self._use_azurite(stack, data_uri)
            for build in builds:
                self._train(build, data_uri, processes)
                self._serve(build, processes)
            self._route(builds)
        return builds

    # -- data ------------------------------------------------------------------------------

    def _export_data(self) -> str:
        root = self.workdir / "data"
        try:
            day = sampledata.write_movielens_export(root, day=date.today())
            source = "MovieLens 100k (from the recbole package)"
        except MlreleaseError:
            day = sampledata.write_synthetic_export(root, day=date.today())
            source = "a generated data set with planted structure"
        files = sorted(p.name for p in day.iterdir())
        self.say(f"data    exported {source} to {day} ({', '.join(files)})")
        return str(day)

    def _use_azurite(self, stack: contextlib.ExitStack, local_data: str) -> str:
        """Move the rehearsal onto Azurite: data and models in blob containers, a Secret for
        the connection string that the charts reference by name."""
        binary = find_azurite(self.repo)
        if binary is None:
            raise MlreleaseError(f"--store azurite needs azurite-blob; {INSTALL_HINT}")
        server = Azurite(binary, self.workdir / "azurite").start()
        stack.callback(server.stop)
        for container in ("exports", "models"):
            server.create_container(container)
        # This process reads and verifies the store too; the Job and the pods get the
        # connection string only through the Secret their manifests reference.
        os.environ[CONNECTION_STRING_ENV] = server.connection_string
        self.secrets = {"model-store": {"connection-string": server.connection_string}}
        self.storage_flags = ["--storage-secret", "model-store"]
        self.models_uri = "az://models"
        local = Path(local_data)
        day = local.relative_to(self.workdir / "data").as_posix()
        target = open_store(f"az://exports/{day}")
        for path in sorted(local.iterdir()):
            target.write_once(path.name, path.read_bytes())
        self.say(
            f"store   Azurite on 127.0.0.1:{server.port}; export uploaded to az://exports/{day}"
        )
        return f"az://exports/{day}"

    # -- training --------------------------------------------------------------------------

    def _train(self, build: Build, data_uri: str, processes: ProcessGroup) -> None:
        values = self.workdir / build.version / "training-values.yaml"
        self._cli(
            "values", "training", "--build-number", build.number, "--data-uri", data_uri,
            "--image-repository", "mlrelease/training", "--models-uri", self.models_uri,
            "--model-name", MODEL_NAME, "--chart", str(self.repo / "charts" / "training"),
            "--out", str(values), *self.provenance_flags, *self.storage_flags,
        )  # fmt: skip
        objects = self._render("training", f"training-{build.version}", values)
        job = manifests.find(objects, "Job")
        container = manifests.pod_spec(job)["containers"][0]
        spec = manifests.process_spec(container, secrets=self.secrets)
        self.say(
            f"train   {build.number}: Job {job['metadata']['name']} runs {' '.join(spec.argv)}"
        )
        processes.run(dataclasses.replace(spec, name=f"training-{build.version}"))
        build.model_uri = artifact.version_uri(self.models_uri, MODEL_NAME, build.version)
        manifest = artifact.verify(build.model_uri)
        build.metrics = manifest["metrics"]
        build.provenance = manifest.get("provenance", {})
        build.users = json.loads(open_store(build.model_uri).read_bytes("user_ids.json"))[:500]
        metrics = ", ".join(
            f"{key} {value:.3f}" for key, value in build.metrics.items() if isinstance(value, float)
        )
        self.say(f"model   {build.version} published and verified at {build.model_uri} ({metrics})")

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, build: Build, processes: ProcessGroup) -> None:
        build.port = _free_port()
        values = self.workdir / build.version / "scoring-values.yaml"
        self._cli(
            "values", "scoring", "--build-number", build.number,
            "--image-repository", "mlrelease/scoring", "--models-uri", self.models_uri,
            "--model-name", MODEL_NAME, "--chart", str(self.repo / "charts" / "scoring"),
            "--value", f"server.port={build.port}", "--value", "server.workers=1",
            "--out", str(values), *self.provenance_flags, *self.storage_flags,
        )  # fmt: skip
        objects = self._render("scoring", f"scoring-{build.version}", values)
        deployment = manifests.find(objects, "Deployment")
        pod = manifests.pod_spec(deployment)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for init in pod.get("initContainers", []):
            spec = manifests.process_spec(init, secrets=self.secrets)
            self.say(f"wait    {build.version}: init container runs {' '.join(spec.argv)}")
            processes.run(dataclasses.replace(spec, name=f"{init['name']}-{build.version}"))
        spec = manifests.process_spec(pod["containers"][0], secrets=self.secrets)
        # A pod has its own network namespace; here the server shares the machine's, so it
        # listens on loopback only.
        server = processes.start(
            dataclasses.replace(spec, name=f"scoring-{build.version}"), {"HOST": "127.0.0.1"}
        )
        wait_ready(f"http://127.0.0.1:{build.port}/readyz", server)
        self.say(
            f"serve   {build.version}: {' '.join(spec.argv)} ready on 127.0.0.1:{build.port} "
            f"(pod labels app={labels.get('app')}, version={labels.get('version')})"
        )

    # -- routing ---------------------------------------------------------------------------

    def _route(self, builds: list[Build]) -> None:
        first, second = builds
        routing = self.workdir / "routing"
        gate = ["--models-uri", self.models_uri, "--model-name", MODEL_NAME]
        current = routing / "01-first.yaml"
        self._cli(
            "traffic", "set", "--weight", f"{first.version}=100", *gate, "--out", str(current)
        )
        canary = routing / "02-canary.yaml"
        self._cli(
            "traffic", "canary", "--current", str(current), "--version", second.version,
            "--percent", "10", *gate, "--out", str(canary),
        )  # fmt: skip
        ab = routing / "03-canary-ab.yaml"
        self._cli(
            "traffic", "ab", "add", "--current", str(canary),
            "--header", AB_HEADER, "--exact", AB_VALUE, "--version", second.version,
            *gate, "--out", str(ab),
        )  # fmt: skip
        self._observe(f"canary {second.version} at 10% with an A/B rule", ab, builds)
        promoted = routing / "04-promoted.yaml"
        self._cli(
            "traffic", "promote", "--current", str(ab), "--version", second.version, *gate,
            "--out", str(promoted),
        )  # fmt: skip
        self._observe(f"promote {second.version}", promoted, builds)

    def _observe(self, title: str, values: Path, builds: list[Build]) -> None:
        objects = self._render("routing", "scoring-routing", values)
        mesh = Mesh(
            manifests.find(objects, "VirtualService"), manifests.find(objects, "DestinationRule")
        )
        ports = {build.version: build.port for build in builds}
        users = {build.version: build.users for build in builds}
        observed = self._send(mesh, ports, users, {}, self.requests_per_split)
        ab_requests = max(20, self.requests_per_split // 10)
        ab_observed = self._send(mesh, ports, users, {AB_HEADER: AB_VALUE}, ab_requests)
        document = yamlio.load_path(values)
        configured = {entry["name"]: entry["weight"] for entry in document["versions"]}
        self.observations.append(
            Observation(
                title, configured, observed, self.requests_per_split, ab_observed, ab_requests
            )
        )
        self.say(f"route   {title}: configured {_split_text(configured)}")
        self.say(
            f"        observed over {self.requests_per_split} requests: "
            f"{_observed_text(observed, self.requests_per_split)}"
        )
        self.say(
            f"        {AB_HEADER}: {AB_VALUE} over {ab_requests} requests: "
            f"{_observed_text(ab_observed, ab_requests)}"
        )

    def _send(
        self,
        mesh: Mesh,
        ports: dict[str, int],
        users: dict[str, list[str]],
        headers: dict[str, str],
        count: int,
    ) -> Counter:
        seen: Counter = Counter()
        with requests.Session() as session:
            for _ in range(count):
                decision = mesh.decide(headers, self.rng)
                user = self.rng.choice(users[decision.version] or ["1"])
                response = session.get(
                    f"http://127.0.0.1:{ports[decision.version]}/recommendations/{user}",
                    params={"k": 10},
                    headers=headers,
                    timeout=10,
                )
                if response.status_code != 200:
                    raise MlreleaseError(
                        f"{decision.version} answered {response.status_code}: {response.text[:200]}"
                    )
                seen[response.headers["X-Model-Version"]] += 1
        return seen

    # -- helpers ---------------------------------------------------------------------------

    def _cli(self, *argv: str) -> None:
        """Run one `mlrelease` command in-process, as the pipeline step would; its own
        output is kept out of the report unless it fails."""
        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = mlrelease(list(argv))
        if code != 0:
            raise MlreleaseError(
                f"`mlrelease {' '.join(argv)}` exited with {code}:\n{output.getvalue()}"
            )

    def _render(self, chart: str, release: str, values: Path) -> list[dict[str, Any]]:
        loaded = helm.load_chart(self.repo / "charts" / chart)
        values_map = helm.load_values_files([values])
        objects = helm.manifests(
            helm.render(loaded, values_map, release=release, namespace=NAMESPACE)
        )
        kinds = Counter(obj["kind"] for obj in objects)
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        self.say(f"render  charts/{chart} as {release}: {summary}")
        return objects


def _git_provenance_flags(repo: Path) -> list[str]:
    """Outside a pipeline, the checkout itself says which commit and branch are rehearsed."""
    flags = ["--reason", "Manual"]
    for flag, command in (
        ("--commit", ["rev-parse", "HEAD"]),
        ("--branch", ["symbolic-ref", "-q", "HEAD"]),
    ):
        result = subprocess.run(
            ["git", "-C", str(repo), *command], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            flags += [flag, result.stdout.strip()]
    return flags


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _split_text(split: dict[str, int]) -> str:
    return ", ".join(f"{name} {weight}%" for name, weight in split.items())


def _observed_text(observed: Counter, total: int) -> str:
    return ", ".join(f"{name} {count / total:.1%}" for name, count in sorted(observed.items()))
