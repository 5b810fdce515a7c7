"""Render every chart over a matrix of values on the Helm engine and check every object.

Each object validates with kubernetes-validate --strict (1.29 and 1.33) or, for Istio and
Prometheus operator kinds, against their CRD schemas with unknown fields rejected; then the
objects are checked against the contracts the workloads and the routing depend on. The real
istioctl (`make tools`) validates every routing render, and analyzes routing and scoring
releases together as a release stage leaves them.
"""

import pytest
import yaml
from support.charts import (
    CHART_NAMES,
    CHARTS,
    K8S_VERSIONS,
    ci_values,
    render_objects,
    validate_custom_resource,
    validate_istio,
    validate_kubernetes,
)
from support.schemas import ISTIO_CRDS, PROMETHEUS_OPERATOR_CRDS
from support.tools import ISTIOCTL, output, run

from mlrelease.provenance import Provenance
from mlrelease.store import artifact
from mlrelease.values import buildvalues, helm

BUILDS = ("20261127.3", "Build 42", "release-2026.11.27_7")
PROVENANCE_ENV = dict(commit="0123456789abcdef", branch="refs/heads/main", build_id="77")
K8S_KINDS = {
    "training": {"Job", "NetworkPolicy", "ServiceAccount"},
    "scoring": {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceAccount",
        "Pod",
    },
    "routing": {"Service", "ConfigMap"},
}
ISTIO_KINDS = {"DestinationRule", "VirtualService", "Gateway"}
MONITORING_KINDS = {
    "training": set(),
    "scoring": {"ServiceMonitor", "PodMonitor"},
    "routing": {"PrometheusRule"},
}
CREDENTIALS = {"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL"}


def _build(build_number: str, storage: str) -> buildvalues.Build:
    storages = {
        "secret": buildvalues.Storage(secret_name="model-store"),
        "identity": buildvalues.Storage(
            workload_identity_client_id="00000000-0000-0000-0000-00000000000a",
            account_url="https://models.blob.core.windows.net",
        ),
        "volume": buildvalues.Storage(volume_claim="models", volume_mount_path="/models"),
    }
    return buildvalues.Build(
        build_number=build_number,
        image_repository="example.azurecr.io/mlrelease/x",
        image_tag="20261127.3" if " " in build_number else None,
        models_uri="/models/store" if storage == "volume" else "az://models",
        provenance=Provenance(build_number=build_number, **PROVENANCE_ENV),
        storage=storages[storage],
    )


def _routing(count: int, ab: bool, mirror: bool) -> dict:
    names = [f"v20261127-{n}" for n in range(1, count + 1)]
    weights = [0] * count
    weights[-1] = 100 - 10 * (count - 1)
    for i in range(count - 1):
        weights[i] = 10
    if count > 2:
        weights[0], weights[-1] = 0, weights[-1] + 10  # a warm, weight-0 version
    values = {"versions": [{"name": n, "weight": w} for n, w in zip(names, weights, strict=True)]}
    if ab:
        values["abRules"] = [
            {"header": "x-canary", "exact": "yes", "version": names[0]},
            {"header": "x-group", "prefix": "beta", "version": names[-1]},
        ]
    if mirror:
        values["mirror"] = {"version": names[0], "percent": 25}
    return values


def _cases():
    cases = []
    for name in CHART_NAMES:
        cases.append((name, "defaults", {}, f"{name}-vdev"))
        cases.append((name, "ci", ci_values(CHARTS, name), f"{name}-v20261127-3"))
    # The ci values scrape with a ServiceMonitor; the PodMonitor is the alternative.
    pod_monitor = ci_values(CHARTS, "scoring")
    pod_monitor["monitoring"]["serviceMonitor"]["enabled"] = False
    pod_monitor["monitoring"]["podMonitor"] = {
        **pod_monitor["monitoring"]["serviceMonitor"],
        "enabled": True,
    }
    cases.append(("scoring", "ci-podmonitor", pod_monitor, "scoring-v20261127-3"))
    for build_number in BUILDS:
        for storage in ("secret", "identity", "volume"):
            build = _build(build_number, storage)
            release = f"-{build.version_id}"
            cases.append(
                (
                    "training",
                    f"{build_number}/{storage}",
                    buildvalues.training_values(build, "az://exports/2026/11/27"),
                    "training" + release,
                )
            )
            cases.append(
                (
                    "scoring",
                    f"{build_number}/{storage}",
                    buildvalues.scoring_values(build),
                    "scoring" + release,
                )
            )
    for count in range(1, 6):
        for ab in (False, True):
            for mirror in (False, True):
                cases.append(
                    (
                        "routing",
                        f"{count}v-ab{ab:d}-mirror{mirror:d}",
                        _routing(count, ab, mirror),
                        "scoring-routing",
                    )
                )
    return cases


CASES = _cases()


@pytest.mark.parametrize(
    ("name", "case", "values", "release"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_every_object_validates(charts, name, case, values, release):
    objects = render_objects(charts[name], values, release)
    assert objects
    for obj in objects:
        if obj["apiVersion"].startswith("networking.istio.io/"):
            assert obj["kind"] in ISTIO_KINDS
            validate_istio(obj, ISTIO_CRDS)
        elif obj["apiVersion"].startswith("monitoring.coreos.com/"):
            assert obj["kind"] in MONITORING_KINDS[name], obj["kind"]
            validate_custom_resource(obj, PROMETHEUS_OPERATOR_CRDS)
        else:
            assert obj["kind"] in K8S_KINDS[name], obj["kind"]
            # kubernetes-validate passes unknown kinds silently; here that is a failure.
            assert validate_kubernetes(obj), f"kubernetes-validate has no schema for {obj['kind']}"
        _check_metadata(obj, values, release)


def test_the_matrix_covers_every_kind(charts):
    kinds, istio, monitoring, kubernetes = set(), 0, 0, 0
    for name, _, values, release in CASES:
        for obj in render_objects(charts[name], values, release):
            kinds.add(obj["kind"])
            if obj["apiVersion"].startswith("networking.istio.io/"):
                istio += 1
            elif obj["apiVersion"].startswith("monitoring.coreos.com/"):
                monitoring += 1
            else:
                kubernetes += 1
    every_kind = set().union(*K8S_KINDS.values(), *MONITORING_KINDS.values()) | ISTIO_KINDS
    assert kinds == every_kind
    print(
        f"\n{len(CASES)} renders: {kubernetes} Kubernetes objects "
        f"x {len(K8S_VERSIONS)} versions, {istio} Istio objects, "
        f"{monitoring} Prometheus operator objects"
    )


def _check_metadata(obj, values, release):
    labels = obj["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == release
    assert "helm.sh/chart" in labels
    provenance = values.get("provenance") or {}
    for key, value in (provenance.get("labels") or {}).items():
        assert labels[key] == value, (obj["kind"], key)
    for key, value in (provenance.get("annotations") or {}).items():
        assert obj["metadata"]["annotations"][key] == value, (obj["kind"], key)
    template = (obj.get("spec") or {}).get("template")
    if template:
        for key in provenance.get("labels") or {}:
            assert key in template["metadata"]["labels"]
        for key in provenance.get("annotations") or {}:
            assert key in template["metadata"]["annotations"]
    for selector in _selectors(obj):
        assert not any(key.startswith("mlrelease.io/") for key in selector), selector
        assert "helm.sh/chart" not in selector and "app.kubernetes.io/version" not in selector


def _selectors(obj):
    spec = obj.get("spec") or {}
    if obj["kind"] == "Service":
        yield spec.get("selector") or {}
    for holder in (spec.get("selector"), spec.get("podSelector")):
        if isinstance(holder, dict) and "matchLabels" in holder:
            yield holder["matchLabels"]


def _containers(obj):
    pod = obj["spec"]["template"]["spec"] if obj["kind"] != "Pod" else obj["spec"]
    return pod, pod.get("initContainers", []) + pod["containers"]


def _env(container):
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("values_kind", ["defaults", "ci"])
def test_training_job_matches_the_trainer_contract(charts, values_kind):
    from training import config

    values = {} if values_kind == "defaults" else ci_values(CHARTS, "training")
    merged = charts["training"].merge_values(values)
    (job,) = [
        o for o in render_objects(charts["training"], values, "training-v1") if o["kind"] == "Job"
    ]
    pod, (container,) = _containers(job)
    env = _env(container)
    assert container["command"] == ["python", "-m", "training"]
    # Which variables the chart sets is the env contract's test (tests/e2e/test_env_drift.py).
    assert set(config.ENV_VARIABLES) - set(env) <= CREDENTIALS
    assert env["MODEL_VERSION"]["value"] == merged["versionId"]
    assert env["MODELS_URI"]["value"] == merged["model"]["modelsUri"]
    assert job["spec"]["backoffLimit"] == merged["job"]["backoffLimit"]
    _check_restricted(pod, [container])


@pytest.mark.parametrize("values_kind", ["defaults", "ci"])
def test_scoring_deployment_matches_the_server_contract(charts, values_kind):

    values = {} if values_kind == "defaults" else ci_values(CHARTS, "scoring")
    merged = charts["scoring"].merge_values(values)
    objects = render_objects(charts["scoring"], values, "scoring-v1")
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod, (wait, server) = _containers(deployment)
    env = _env(server)
    model_uri = artifact.version_uri(
        merged["model"]["modelsUri"], merged["model"]["name"], merged["versionId"]
    )
    # The init container copies the version into the pod's model volume; the server maps
    # that copy and never reads the store, so only the init container has credentials.
    local_copy = f"{merged['modelVolume']['mountPath']}/{merged['versionId']}"
    assert server["command"] == ["python", "-m", "scoring"]
    assert env["MODEL_URI"]["value"] == local_copy
    assert env["PORT"]["value"] == str(merged["server"]["port"])
    timeout = str(merged["modelWait"]["timeoutSeconds"])
    assert wait["command"] == [
        *("mlrelease", "model", "wait", model_uri, "--timeout", timeout),
        *("--into", local_copy),
    ]
    assert not set(env) & CREDENTIALS
    if values_kind == "ci":
        assert set(_env(wait)) == CREDENTIALS
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert server["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert server["ports"] == [
        {"name": "http", "containerPort": merged["server"]["port"], "protocol": "TCP"}
    ]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app"] == merged["appName"] and labels["version"] == merged["versionId"]
    _check_restricted(pod, [wait, server])


def _check_restricted(pod, containers):
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "emptyDir": pod["volumes"][0]["emptyDir"]} == pod["volumes"][0]
    for container in containers:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsUser"] == 10001
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_workload_identity_wires_service_account_and_pod(charts):
    build = _build("20261127.3", "identity")
    objects = render_objects(charts["scoring"], buildvalues.scoring_values(build), "scoring-x")
    (account,) = [o for o in objects if o["kind"] == "ServiceAccount"]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"].endswith("0a")
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
    # The init container reads the store; the server only maps its pod-local copy.
    env = _env(pod["spec"]["initContainers"][0])
    assert env["AZURE_STORAGE_ACCOUNT_URL"]["value"] == "https://models.blob.core.windows.net"
    assert "AZURE_STORAGE_CONNECTION_STRING" not in env


@pytest.mark.parametrize(
    ("count", "ab", "mirror"), [(1, False, False), (3, True, True), (5, True, False)]
)
def test_routing_follows_the_traffic_document(charts, count, ab, mirror):
    values = _routing(count, ab, mirror)
    objects = {o["kind"]: o for o in render_objects(charts["routing"], values, "scoring-routing")}
    names = [v["name"] for v in values["versions"]]
    assert objects["Service"]["metadata"]["name"] == "scoring"
    assert objects["Service"]["spec"]["selector"] == {"app": "scoring"}
    subsets = objects["DestinationRule"]["spec"]["subsets"]
    assert [s["name"] for s in subsets] == names
    assert all(s["labels"] == {"app": "scoring", "version": s["name"]} for s in subsets)
    http = objects["VirtualService"]["spec"]["http"]
    rules = values.get("abRules", [])
    assert len(http) == len(rules) + 1
    for route, rule in zip(http, rules, strict=False):
        (match,) = route["match"]
        kind = "exact" if "exact" in rule else "prefix"
        assert match["headers"] == {rule["header"].lower(): {kind: rule[kind]}}
        assert route["route"][0]["destination"]["subset"] == rule["version"]
    split = http[-1]
    assert "match" not in split
    weights = {r["destination"]["subset"]: r["weight"] for r in split["route"]}
    assert weights == {v["name"]: v["weight"] for v in values["versions"] if v["weight"] > 0}
    assert sum(weights.values()) == 100
    if mirror:
        assert split["mirror"]["subset"] == values["mirror"]["version"]
        assert split["mirrorPercentage"] == {"value": 25}
    else:
        assert "mirror" not in split


BAD_VALUES = [
    ("training", {"hyperparameters": {"epochs": "many"}}, "/hyperparameters/epochs"),
    ("training", {"storage": {"connectionString": "x"}}, "connectionString"),
    ("scoring", {"replicaCount": -1}, "/replicaCount"),
    ("scoring", {"server": {"prot": 8080}}, "prot"),
    ("scoring", {"versionId": "Not_A_Label"}, "/versionId"),
    (
        "routing",
        {"versions": [{"name": "va", "weight": 60}, {"name": "vb", "weight": 30}]},
        "weights must sum to 100",
    ),
    ("routing", {"versions": [{"name": "va", "weight": "100"}]}, "/versions/0/weight"),
    (
        "routing",
        {"abRules": [{"header": "x-a", "exact": "1", "version": "vnope"}]},
        "abRules[0].version",
    ),
    ("routing", {"mirror": {"version": "vnope", "percent": 5}}, "mirror.version"),
    (
        "routing",
        {"versions": [{"name": "va", "weight": 50}, {"name": "va", "weight": 50}]},
        "versions[1].name",
    ),
    ("routing", {"hosts": ["scoring"]}, "hosts"),
    (
        "routing",
        {"virtualService": {"hosts": ["scoring.mlrelease.svc.cluster.local"]}},
        "virtualService.hosts[0]",
    ),
]


@pytest.mark.parametrize(("name", "values", "key"), BAD_VALUES)
def test_bad_values_fail_naming_the_key(charts, name, values, key):
    from mlrelease.errors import InputError

    with pytest.raises(InputError) as caught:
        render_objects(charts[name], values, f"{name}-vbad")
    assert key in str(caught.value)


SECRET = "DefaultEndpointsProtocol=https;AccountName=models;AccountKey=c2VjcmV0LWtleQ==;"


@pytest.mark.parametrize("name", ["training", "scoring"])
def test_storage_secrets_never_reach_a_manifest(charts, name):
    values = ci_values(CHARTS, name)
    rendered = helm.render(charts[name], values, release=f"{name}-v1", namespace="ml")
    text = "".join(rendered.values())
    assert "secretKeyRef" in text and "model-store" in text
    for marker in ("AccountKey", "SharedAccessSignature", "DefaultEndpointsProtocol"):
        assert marker not in text
    # A credential value has no place in the values: the schema refuses it without echoing it.
    for where in (
        {"storage": {"connectionString": SECRET}},
        {"storage": {"connectionStringSecret": {"value": SECRET}}},
    ):
        from mlrelease.errors import InputError

        with pytest.raises(InputError) as caught:
            helm.render(charts[name], helm.merge_values(values, where), release=f"{name}-v1")
        assert "AccountKey" not in str(caught.value)
    for obj in helm.manifests(rendered):
        for container in _all_containers(obj):
            for variable in container.get("env", []):
                if variable["name"] == "AZURE_STORAGE_CONNECTION_STRING":
                    assert "value" not in variable and "secretKeyRef" in variable["valueFrom"]


def _all_containers(obj):
    spec = obj.get("spec") or {}
    pod = spec.get("template", {}).get("spec") if "template" in spec else spec
    if not isinstance(pod, dict):
        return []
    return pod.get("initContainers", []) + pod.get("containers", [])


def test_istio_check_rejects_unknown_and_mistyped_fields(charts):
    import jsonschema

    objects = render_objects(charts["routing"], _routing(2, True, True), "scoring-routing")
    (service,) = [o for o in objects if o["kind"] == "VirtualService"]
    validate_istio(service, ISTIO_CRDS)
    service["spec"]["http"][0]["route"][0]["destination"]["subnet"] = "typo"
    with pytest.raises(jsonschema.ValidationError, match="subnet"):
        validate_istio(service, ISTIO_CRDS)
    (rule,) = [o for o in objects if o["kind"] == "DestinationRule"]
    rule["spec"]["subsets"][0]["labels"] = "version=v1"
    with pytest.raises(jsonschema.ValidationError):
        validate_istio(rule, ISTIO_CRDS)


def test_routing_renders_the_document_mlrelease_traffic_writes(charts, tmp_path):
    from mlrelease.traffic import document, operations

    doc = operations.set_weights(operations.new_document(), {"v20261127-1": 2, "v20261127-2": 1})
    doc = operations.add_ab_rule(doc, "x-canary", "regex", "^(yes|1)$", "v20261127-2")
    doc = operations.set_mirror(doc, "v20261127-2", 12.5)
    provenance = Provenance(build_number="20261127.9", build_id="9")
    text = document.render(
        None, doc, {"labels": provenance.labels(), "annotations": provenance.annotations()}
    )
    (tmp_path / "routing-values.yaml").write_text(text)
    values = helm.load_values_files([tmp_path / "routing-values.yaml"])
    objects = {o["kind"]: o for o in render_objects(charts["routing"], values, "scoring-routing")}
    split = objects["VirtualService"]["spec"]["http"][-1]
    assert [r["weight"] for r in split["route"]] == [67, 33]
    assert split["mirrorPercentage"] == {"value": 12.5}
    assert objects["Service"]["metadata"]["labels"]["mlrelease.io/build-id"] == "9"
    validate_istio(objects["VirtualService"], ISTIO_CRDS)


@pytest.mark.parametrize("name", CHART_NAMES)
@pytest.mark.parametrize("values_kind", ["defaults", "ci"])
@pytest.mark.parametrize("kube_version", ["v1.29.0", "v1.33.0"])
def test_helm_lint_strict_is_clean(name, values_kind, kube_version):
    import helm_python

    values = {} if values_kind == "defaults" else ci_values(CHARTS, name)
    report = helm_python.lint(
        CHARTS / name, values, strict=True, namespace="ml", kube_version=kube_version
    )
    assert report["errors"] == []
    # Severity 1 is informational ("icon is recommended"); warnings and errors fail.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def _plain_env(container) -> dict[str, str]:
    # The kubelet resolves secretKeyRef; stand in a connection string of the right shape.
    stand_in = "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=eA==;"
    return {e["name"]: e.get("value", stand_in) for e in container.get("env", [])}


@pytest.mark.parametrize("values_kind", ["defaults", "ci", "build"])
def test_workloads_accept_the_environment_the_charts_give_them(charts, values_kind):
    """The trainer's and server's own config loaders read what the charts render."""
    from scoring import settings
    from training import config

    build = _build("20261127.3", "secret")
    values = {
        "defaults": ({}, {}),
        "ci": (ci_values(CHARTS, "training"), ci_values(CHARTS, "scoring")),
        "build": (
            buildvalues.training_values(build, "az://exports/2026/11/27"),
            buildvalues.scoring_values(build),
        ),
    }[values_kind]
    (job,) = [
        o
        for o in render_objects(charts["training"], values[0], "training-v1")
        if o["kind"] == "Job"
    ]
    trainer = config.load(_plain_env(job["spec"]["template"]["spec"]["containers"][0]))
    assert trainer.hyperparameters.loss in ("warp", "bpr")
    objects = render_objects(charts["scoring"], values[1], "scoring-v1")
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    server = settings.from_environ(
        _plain_env(deployment["spec"]["template"]["spec"]["containers"][-1])
    )
    assert server.port == charts["scoring"].merge_values(values[1])["server"]["port"]


ROUTING_CASES = [(case, values) for name, case, values, _ in CASES if name == "routing"]


@pytest.mark.parametrize(("case", "values"), ROUTING_CASES, ids=[c for c, _ in ROUTING_CASES])
def test_istioctl_validates_every_routing_render(charts, case, values, tmp_path):
    objects = render_objects(charts["routing"], values, "scoring-routing")
    istio = [o for o in objects if o["apiVersion"].startswith("networking.istio.io/")]
    assert {o["kind"] for o in istio} >= {"DestinationRule", "VirtualService"}
    manifest = tmp_path / "routing.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    result = run(ISTIOCTL, ["validate", "-f", manifest], tmp_path)
    assert result.returncode == 0, output(result)
    assert f'"{manifest}" is valid' in result.stdout + result.stderr, output(result)


def test_istioctl_validate_rejects_a_bad_object(charts, tmp_path):
    objects = render_objects(charts["routing"], ci_values(CHARTS, "routing"), "scoring-routing")
    (service,) = [o for o in objects if o["kind"] == "VirtualService"]
    service["spec"]["http"][0]["timeout"] = "five"
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump(service))
    result = run(ISTIOCTL, ["validate", "-f", manifest], tmp_path)
    assert result.returncode != 0
    assert 'invalid duration "five"' in result.stderr, output(result)


def _mesh(charts, scenario):
    """Routing and one scoring release per live version, as a release stage leaves them."""
    if scenario == "ci":
        routing = ci_values(CHARTS, "routing")
        scorings = [
            {**ci_values(CHARTS, "scoring"), "versionId": v["name"]} for v in routing["versions"]
        ]
    else:
        builds = [_build(number, "secret") for number in ("20261127.3", "20261128.1")]
        scorings = [buildvalues.scoring_values(build) for build in builds]
        ids = [build.version_id for build in builds]
        routing = {
            "versions": [{"name": ids[0], "weight": 90}, {"name": ids[1], "weight": 10}],
            "abRules": [{"header": "x-user-group", "prefix": "beta", "version": ids[1]}],
            "mirror": {"version": ids[1], "percent": 5},
        }
    objects = render_objects(charts["routing"], routing, "scoring-routing")
    for values in scorings:
        objects += render_objects(charts["scoring"], values, f"scoring-{values['versionId']}")
    return objects


def _analyze(objects, tmp_path):
    # The log output, not `-o json`: with json, istioctl analyze exits 0 even when it reports
    # errors. Exit 79 (or any non-zero) means an Error-level message.
    manifest = tmp_path / "mesh.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    args = ["analyze", "--use-kube=false", "--all-namespaces", "--color=false", manifest]
    return run(ISTIOCTL, args, tmp_path)


@pytest.mark.parametrize("scenario", ["ci", "pipeline"])
def test_istioctl_analyze_finds_no_error_in_routing_and_scoring_together(
    charts, scenario, tmp_path
):
    objects = _mesh(charts, scenario)
    result = _analyze(objects, tmp_path)
    kinds = [f"{o['kind']}/{o['metadata']['name']}" for o in objects]
    print(f"\nistioctl analyze {scenario}: {len(objects)} objects\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, output(result)
    assert "No validation issues found" in result.stdout + result.stderr, output(result)
    assert {"DestinationRule/scoring-routing", "VirtualService/scoring-routing"} <= set(kinds)
    assert sum(kind.startswith("Deployment/") for kind in kinds) >= 2


def test_istioctl_analyze_reports_a_subset_no_destination_rule_defines(charts, tmp_path):
    objects = _mesh(charts, "pipeline")
    (rule,) = [o for o in objects if o["kind"] == "DestinationRule"]
    rule["spec"]["subsets"] = rule["spec"]["subsets"][:1]
    result = _analyze(objects, tmp_path)
    assert result.returncode != 0
    assert "Error [IST0101]" in result.stdout, output(result)
