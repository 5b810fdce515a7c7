"""The release flow of the pipelines, rehearsed: three builds, canaries judged by real
Prometheus queries, an automatic rollback, a promotion and the retirement of old versions.

Each step uses the same commands the pipelines run (`mlrelease values`, `traffic`,
`compare`, `analyze`, `model prune`) and the same charts, rendered on the real Helm engine;
the processes the manifests describe then run on this machine against a local model store.
Build C's model passes the offline quality gate but was trained with a learning rate five
times too high: the model agreement test and the canary analysis must both stop it.

Requests go through the mesh stand-in's proxy, which routes them as the rendered
VirtualService says and exports Istio's standard telemetry; a real Prometheus scrapes it
and every scoring server's /metrics.
"""

import contextlib
import dataclasses
import io
import json
import os
import random
import re
import socket
import subprocess
import time
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
from mlrelease.rehearsal.mesh import METRICS_PATH, Mesh, MeshProxy
from mlrelease.rehearsal.processes import ProcessGroup, wait_ready
from mlrelease.rehearsal.prometheus import INSTALL_HINT as PROMETHEUS_HINT
from mlrelease.rehearsal.prometheus import PrometheusServer, find_prometheus
from mlrelease.store import CONNECTION_STRING_ENV, artifact, open_store
from mlrelease.values import helm, yamlio
from mlrelease.versions import version_id

NAMESPACE = "mlrelease-demo"
MODEL_NAME = "recommender"
AB_HEADER, AB_VALUE = "x-user-group", "beta"
CANARY_PERCENT = 10
KEEP_VERSIONS = 1
# Share of requests from users no model knows (answered by the popularity fallback).
NEW_USER_SHARE = 0.02
# Each step lasts seconds here, not minutes: a short window, and a minimum of half the
# requests a canary step is expected to get (50 of the 100 that 10% of 1000 makes). The p99
# ratio is looser than the default 1.5x because a p99 over a hundred requests on a shared
# machine is mostly noise.
ANALYSIS = """\
# Canary analysis for the rehearsal (mlrelease analyze --config); see analysis.schema.json.
interval: 30s
minRequests: {min_requests}
metrics:
  latencyP99:
    thresholdRange: {{max: 250}}
    baselineRatio: {{max: 3}}
"""


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
    # Chart values that make this build different (`--value KEY=VALUE`), and why.
    values: dict[str, str] = dataclasses.field(default_factory=dict)
    note: str = ""
    process: subprocess.Popen | None = None
    scoring_values: Path | None = None


@dataclasses.dataclass
class Rollout:
    """One canary: the model agreement test, the analysis of its first step, the outcome."""

    candidate: str
    baseline: str
    agreement: dict[str, Any]
    agreement_markdown: str
    analysis: dict[str, Any]
    analysis_markdown: str
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "baseline": self.baseline,
            "agreement": self.agreement,
            "analysis": self.analysis,
            "outcome": self.outcome,
        }


def rehearsal_builds(day: str) -> list[Build]:
    """Builds A and B trained alike, and C with a learning rate five times the default: its
    model still passes the offline gate (precision@10 0.074 on MovieLens 100k against the
    chart's floor of 0.05) but recommends other items, with scores a hundred times larger."""
    numbers = [f"{day}.{n}" for n in (1, 2, 3)]
    builds = [Build(number, version_id(number)) for number in numbers]
    builds[2].values = {"hyperparameters.learningRate": "0.25"}
    builds[2].note = "trained with learning rate 0.25, five times the default 0.05"
    return builds


@dataclasses.dataclass
class Observation:
    """What real requests saw under one routing values file."""

    title: str
    configured: dict[str, int]
    observed: Counter
    requests: int
    ab_observed: Counter
    ab_requests: int
    # The canary analysis of this split, where one judged it: "healthy" or "failing".
    verdict: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, camelCase like the other documents."""
        return {
            "title": self.title,
            "configured": self.configured,
            "observed": dict(self.observed),
            "requests": self.requests,
            "abObserved": dict(self.ab_observed),
            "abRequests": self.ab_requests,
            "verdict": self.verdict,
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
        self.rollouts: list[Rollout] = []
        self.retired: list[str] = []
        self.pruned: list[str] = []
        self.provenance_flags = _git_provenance_flags(repo)
        self.proxy: MeshProxy | None = None
        self.prometheus: PrometheusServer | None = None
        self.processes: ProcessGroup | None = None

    def run(self, builds: list[Build]) -> list[Build]:
        """The whole flow; every process it starts is stopped before it returns or raises."""
        prometheus = find_prometheus()
        if prometheus is None:
            raise MlreleaseError(
                f"the rehearsal's canary analysis needs prometheus; {PROMETHEUS_HINT}"
            )
        with contextlib.ExitStack() as stack:
            self.processes = processes = stack.enter_context(ProcessGroup(self.workdir / "logs"))
            data_uri = self._export_data()
            if self.store == "azurite":
                data_uri = self._use_azurite(stack, data_uri)
            for build in builds:
                build.port = _free_port()
            # Started first, so Prometheus is up and scraping by the time the servers are.
            self._start_telemetry(stack, prometheus, builds)
            for build in builds:
                self._train(build, data_uri, processes)
                self._serve(build, processes)
            assert self.prometheus is not None
            self.prometheus.wait_for_targets()
            self._route(builds)
        return builds

    def _start_telemetry(
        self, stack: contextlib.ExitStack, binary: str, builds: list[Build]
    ) -> None:
        """The mesh stand-in's proxy and a real Prometheus scraping it and every server."""
        upstreams = {build.version: build.port for build in builds}
        self.proxy = MeshProxy("scoring", NAMESPACE, upstreams).start()
        stack.callback(self.proxy.stop)
        jobs = {
            "istio-mesh": [f"127.0.0.1:{self.proxy.port}"],
            "scoring": [f"127.0.0.1:{build.port}" for build in builds],
        }
        self.prometheus = PrometheusServer(
            binary, self.workdir / "prometheus", jobs, {"istio-mesh": METRICS_PATH}
        )
        stack.callback(self.prometheus.stop)
        self.prometheus.start()
        self.say(
            f"metrics Prometheus on {self.prometheus.url} scrapes the mesh stand-in "
            f"(127.0.0.1:{self.proxy.port}{METRICS_PATH}, Istio's standard metrics) and the "
            f"{len(builds)} scoring servers' /metrics every 1s"
        )

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
        overrides = [
            f for key, value in build.values.items() for f in ("--value", f"{key}={value}")
        ]
        self._cli(
            "values", "training", "--build-number", build.number, "--data-uri", data_uri,
            "--image-repository", "mlrelease/training", "--models-uri", self.models_uri,
            "--model-name", MODEL_NAME, "--chart", str(self.repo / "charts" / "training"),
            "--out", str(values), *self.provenance_flags, *self.storage_flags,
            *overrides,
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
        if build.note:
            self.say(f"        {build.version}: {build.note}; it passed the offline quality gate")
        self.say(
            f"gate    judged on {build.metrics.get('testUsers')} users with held-out "
            f"interactions (MIN_TEST_USERS {build.metrics.get('minTestUsers')})"
        )

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, build: Build, processes: ProcessGroup) -> None:
        values = self.workdir / build.version / "scoring-values.yaml"
        self._cli(
            "values", "scoring", "--build-number", build.number,
            "--image-repository", "mlrelease/scoring", "--models-uri", self.models_uri,
            "--model-name", MODEL_NAME, "--chart", str(self.repo / "charts" / "scoring"),
            "--value", f"server.port={build.port}", "--value", "server.workers=1",
            # The pod's model volume is a folder of this rehearsal's own.
            "--value", f"modelVolume.mountPath={self.workdir / build.version / 'pod-model'}",
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
        build.process, build.scoring_values = server, values
        wait_ready(f"http://127.0.0.1:{build.port}/readyz", server)
        self.say(
            f"serve   {build.version}: {' '.join(spec.argv)} ready on 127.0.0.1:{build.port} "
            f"(pod labels app={labels.get('app')}, version={labels.get('version')})"
        )

    # -- routing ---------------------------------------------------------------------------

    def _route(self, builds: list[Build]) -> None:
        first, *later = builds
        routing = self.workdir / "routing"
        current = routing / "01-first.yaml"
        self._cli(
            "traffic", "set", "--weight", f"{first.version}=100", *self._gate(), "--out",
            str(current),
        )  # fmt: skip
        baseline = first
        for number, candidate in enumerate(later):
            current, promoted = self._rollout(candidate, baseline, current, builds, number)
            if promoted:
                baseline = candidate
        self._retire(current, builds)

    def _gate(self) -> list[str]:
        return ["--models-uri", self.models_uri, "--model-name", MODEL_NAME]

    def _rollout(
        self, candidate: Build, baseline: Build, current: Path, builds: list[Build], number: int
    ) -> tuple[Path, bool]:
        """Agreement test, first canary step, analysis; then promote or restore the routing."""
        routing = current.parent
        prefix = f"{2 + 3 * number:02d}"
        agreement, agreement_md = self._compare(candidate, baseline)
        if not agreement["passed"]:
            self.say(
                "        the pipeline's helm test stops the rollout here; the rehearsal goes on "
                "to the first step to show that the metric analysis stops it too"
            )
        step = routing / f"{prefix}-canary-{candidate.version}.yaml"
        self._cli(
            "traffic", "canary", "--current", str(current), "--version", candidate.version,
            "--percent", str(CANARY_PERCENT), *self._gate(), "--out", str(step),
        )  # fmt: skip
        title = f"canary {candidate.version} at {CANARY_PERCENT}%"
        if number == 0:
            ab = routing / f"{prefix}-canary-{candidate.version}-ab.yaml"
            self._cli(
                "traffic", "ab", "add", "--current", str(step),
                "--header", AB_HEADER, "--exact", AB_VALUE, "--version", candidate.version,
                *self._gate(), "--out", str(ab),
            )  # fmt: skip
            step, title = ab, f"{title} with an A/B rule"
        self._observe(title, step, builds)
        analysis, analysis_md = self._analyze(candidate, baseline)
        self.observations[-1].verdict = "healthy" if analysis["passed"] else "failing"
        passed = agreement["passed"] and analysis["passed"]
        if passed:
            promoted = routing / f"{prefix}-promoted-{candidate.version}.yaml"
            self._cli(
                "traffic", "promote", "--current", str(step), "--version", candidate.version,
                *self._gate(), "--out", str(promoted),
            )  # fmt: skip
            self._observe(f"promote {candidate.version}", promoted, builds)
            outcome, result = "promoted", promoted
        else:
            # What the deployment job's `on: failure` hook does: the saved routing goes back.
            self.say(
                f"rollback {candidate.version} failed its checks: the job fails and its "
                f"on-failure hook restores {current.name}"
            )
            self._observe(f"roll back {candidate.version}: routing restored", current, builds)
            outcome, result = "rolled back", current
        self.rollouts.append(
            Rollout(
                candidate.version, baseline.version, agreement, agreement_md, analysis,
                analysis_md, outcome,
            )
        )  # fmt: skip
        return result, passed

    def _compare(self, candidate: Build, baseline: Build) -> tuple[dict[str, Any], str]:
        """The scoring chart's model agreement `helm test`, its Service names resolved to
        the servers' loopback ports as cluster DNS would resolve them."""
        assert self.processes is not None and candidate.scoring_values is not None
        values = candidate.scoring_values.with_name("scoring-values-release.yaml")
        self._cli(
            "values", "set", str(candidate.scoring_values),
            f"compare.baseline={baseline.version}", "--out", str(values),
        )  # fmt: skip
        objects = self._render("scoring", f"scoring-{candidate.version}", values)
        pod = next(
            obj for obj in objects
            if obj["kind"] == "Pod" and obj["metadata"]["name"].endswith("-test-compare")
        )  # fmt: skip
        spec = manifests.process_spec(pod["spec"]["containers"][0], secrets=self.secrets)
        ports = {f"scoring-{build.version}": build.port for build in (candidate, baseline)}
        argv = [_resolve_services(arg, ports) for arg in spec.argv]
        report = self.workdir / candidate.version / "agreement"
        argv += ["--json", f"{report}.json", "--markdown", f"{report}.md"]
        self.say(
            f"test    helm test scoring-{candidate.version}: {' '.join(spec.argv[:2])} "
            f"against {baseline.version} ({pod['metadata']['name']})"
        )
        with contextlib.suppress(MlreleaseError):  # a failing gate exits 1; the report says why
            self.processes.run(
                dataclasses.replace(spec, argv=argv, name=f"compare-{candidate.version}")
            )
        if not Path(f"{report}.json").exists():
            raise MlreleaseError(f"the compare test of {candidate.version} wrote no report")
        agreement = json.loads(Path(f"{report}.json").read_text())
        self.say(
            f"        overlap@{agreement['k']} {agreement['overlapAtK']:.3f}, rank correlation "
            f"{agreement['rankCorrelation']:.3f}, fallback rate "
            f"{_percent(agreement['candidate']['fallbackRate'])} vs "
            f"{_percent(agreement['baseline']['fallbackRate'])}: "
            + ("pass" if agreement["passed"] else "FAIL (" + "; ".join(agreement["failures"]) + ")")
        )
        return agreement, Path(f"{report}.md").read_text()

    def _analyze(self, candidate: Build, baseline: Build) -> tuple[dict[str, Any], str]:
        """`mlrelease analyze` against the real Prometheus, as the canary step runs it."""
        assert self.prometheus is not None
        config = self.workdir / "analysis.yaml"
        if not config.exists():
            expected = self.requests_per_split * CANARY_PERCENT // 100
            yamlio.write_atomic(config, ANALYSIS.format(min_requests=max(10, expected // 2)))
        # Two scrapes after the last request, so Prometheus holds all of the step's traffic.
        time.sleep(2.5)
        report = self.workdir / candidate.version / "analysis"
        code, output = self._cli_status(
            "analyze", "--prometheus-url", self.prometheus.url, "--config", str(config),
            "--candidate", candidate.version, "--baseline", baseline.version,
            "--json", f"{report}.json", "--markdown", f"{report}.md",
        )  # fmt: skip
        if code not in (0, 1) or not Path(f"{report}.json").exists():
            raise MlreleaseError(f"mlrelease analyze exited with {code}:\n{output}")
        self.say(f"analyze {candidate.version} against {baseline.version} (exit {code}):")
        for line in output.splitlines():
            if line and not line.startswith(tuple(f"{n}:" for n in _CHECK_NAMES)):
                self.say(f"        {line}")
        return json.loads(Path(f"{report}.json").read_text()), Path(f"{report}.md").read_text()

    def _retire(self, current: Path, builds: list[Build]) -> None:
        """Old versions at weight 0 leave the routing, then their releases, then the store."""
        assert self.processes is not None
        retired_file = current.parent / "retired.txt"
        final = current.parent / "99-retired.yaml"
        self._cli(
            "traffic", "retire", "--current", str(current), "--keep", str(KEEP_VERSIONS),
            "--out", str(final), "--retired-list", str(retired_file),
        )  # fmt: skip
        self.retired = retired_file.read_text().split()
        by_version = {build.version: build for build in builds}
        for version in self.retired:
            build = by_version[version]
            if build.process is not None:
                self.processes.stop(build.process)
            self.say(
                f"retire  {version} left the routing; helm uninstall scoring-{version} "
                f"(its server on 127.0.0.1:{build.port} stopped)"
            )
        output = self._cli(
            "model", "prune", "--models-uri", self.models_uri, "--model-name", MODEL_NAME,
            "--routing", str(final), "--keep", str(KEEP_VERSIONS),
        )  # fmt: skip
        self.pruned = [
            line.split()[1] for line in output.splitlines() if line.startswith("deleted v")
        ]
        for line in output.splitlines():
            self.say(f"prune   {line}")

    def _observe(self, title: str, values: Path, builds: list[Build]) -> None:
        assert self.proxy is not None
        objects = self._render("routing", "scoring-routing", values)
        self.proxy.route(
            Mesh(
                manifests.find(objects, "VirtualService"),
                manifests.find(objects, "DestinationRule"),
            )
        )
        users = builds[0].users
        observed = self._send(users, {}, self.requests_per_split)
        ab_requests = max(20, self.requests_per_split // 10)
        ab_observed = self._send(users, {AB_HEADER: AB_VALUE}, ab_requests)
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

    def _send(self, users: list[str], headers: dict[str, str], count: int) -> Counter:
        """Requests through the mesh stand-in; a few from users no model knows."""
        assert self.proxy is not None
        seen: Counter = Counter()
        with requests.Session() as session:
            for number in range(count):
                if self.rng.random() < NEW_USER_SHARE:
                    user = f"new-user-{number}"
                else:
                    user = self.rng.choice(users or ["1"])
                response = session.get(
                    f"http://127.0.0.1:{self.proxy.port}/recommendations/{user}",
                    params={"k": 10},
                    headers=headers,
                    timeout=10,
                )
                if response.status_code != 200:
                    raise MlreleaseError(
                        f"the mesh answered {response.status_code}: {response.text[:200]}"
                    )
                seen[response.headers["X-Model-Version"]] += 1
        return seen

    # -- helpers ---------------------------------------------------------------------------

    def _cli(self, *argv: str) -> str:
        """Run one `mlrelease` command in-process, as the pipeline step would; its output
        (returned) is kept out of the report unless it fails."""
        code, output = self._cli_status(*argv)
        if code != 0:
            raise MlreleaseError(f"`mlrelease {' '.join(argv)}` exited with {code}:\n{output}")
        return output

    def _cli_status(self, *argv: str) -> tuple[int, str]:
        """(exit code, stdout) of one in-process `mlrelease` command; stderr is dropped
        unless it fails."""
        output, errors = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(errors):
            code = mlrelease(list(argv))
        text = output.getvalue()
        return code, text if code in (0, 1) else text + errors.getvalue()

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


_CHECK_NAMES = (
    "request-count",
    "success-rate",
    "latency-p99",
    "fallback-share",
    "top1-score-median",
)
_SERVICE_URL = re.compile(r"http://(scoring-[a-z0-9-]+):[0-9]+")


def _resolve_services(argument: str, ports: dict[str, int]) -> str:
    """`http://scoring-<v>:80` -> `http://127.0.0.1:<that server's port>`."""

    def local(match: re.Match) -> str:
        return f"http://127.0.0.1:{ports[match[1]]}" if match[1] in ports else match[0]

    return _SERVICE_URL.sub(local, argument)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _split_text(split: dict[str, int]) -> str:
    return ", ".join(f"{name} {weight}%" for name, weight in split.items())


def _observed_text(observed: Counter, total: int) -> str:
    return ", ".join(f"{name} {count / total:.1%}" for name, count in sorted(observed.items()))
