"""The pipelines' house rules: values files not --set, no secrets or namespaces in YAML, the
release shape (deployment jobs bound to environments, a rollback, valid canary steps) and
entry pipelines that only assemble templates."""

import re
from pathlib import Path
from typing import Any

import pytest
from support.pipelines import (
    GROUP_SECRETS,
    PIPELINES,
    REPO,
    declared_parameters,
    expand,
    load,
    load_text,
    pipeline_files,
    scripts,
)

from mlrelease.errors import InputError
from mlrelease.traffic import operations

FILES = pipeline_files()
ENTRY_PIPELINES = [PIPELINES / "build-train.yml", PIPELINES / "release.yml"]

HELM_SET_FLAG = re.compile(r"(?<![\w-])--set(-string|-file|-json|-literal)?(?![\w-])")
SECRET_VALUE = re.compile(
    r"AccountKey=|SharedAccessSignature=|DefaultEndpointsProtocol=|[?&]sig=|-----BEGIN "
    r"|\b[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/])"
)
SECRET_KEY = re.compile(
    r"password|passwd|token|connection_?string|access_?key|account_?key|client_?secret|api_?key",
    re.IGNORECASE,
)
NAMESPACE_FLAG = re.compile(r"(?:--namespace(?:=|\s+)|(?<![\w-])-n\s+)(\S+)")


def _name(path: Path) -> str:
    return str(path.relative_to(PIPELINES))


def _pairs(node: Any) -> list[tuple[str, Any]]:
    """Every (key, value) of every mapping under a node."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((key, value))
            found.extend(_pairs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_pairs(item))
    return found


def _is_reference(value: str) -> bool:
    return value.startswith(("$(", "${{", "$["))


def _secret_problems(document: Any) -> list[str]:
    problems = []
    for key, value in _pairs(document):
        for text in (key, value):
            if isinstance(text, str) and SECRET_VALUE.search(text):
                problems.append(f"secret-looking text {text[:40]!r}")
        if isinstance(value, str) and SECRET_KEY.search(key) and not _is_reference(value):
            problems.append(f"{key}: a literal where a secret variable belongs")
    return problems


def _namespace_problems(document: Any) -> list[str]:
    problems = [
        f"{match.group(0)!r} in a script"
        for script in scripts(document)
        for match in NAMESPACE_FLAG.finditer(script)
        if "$" not in match.group(1)
    ]
    problems += [
        f"namespace: {value}"
        for key, value in _pairs(document)
        if key == "namespace" and isinstance(value, str) and "$" not in value
    ]
    return problems


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_file_opens_with_a_one_line_purpose_comment(path):
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    assert re.fullmatch(r"# [A-Z].{20,}", first), first
    assert not second.startswith("#"), "the purpose fits on the first line"


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_helm_gets_values_files_never_set_strings(path):
    document = expand(load(path))
    offending = [script for script in scripts(document) if HELM_SET_FLAG.search(script)]
    assert not offending
    assert "overrideValues" not in {key for key, _ in _pairs(document)}


def test_the_set_check_finds_set_flags():
    assert HELM_SET_FLAG.search("helm upgrade x c --set image.tag=1")
    assert HELM_SET_FLAG.search("helm upgrade x c --set-string=a=b")
    assert not HELM_SET_FLAG.search("helm upgrade x c -f values.yaml --settle")


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_no_secret_is_written_in_yaml(path):
    assert not _secret_problems(expand(load(path)))


def test_the_secret_check_finds_secrets():
    document = load_text(
        "variables:\n"
        "  storage: DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc\n"
        "  clientSecret: hunter2\n"
        "  sas: https://a.blob.core.windows.net/c?sv=2024&sig=abc\n"
        "  key: Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq\n"
        "  storageConnectionString: $(storageConnectionString)\n"
    )
    assert len(_secret_problems(document)) == 4


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_secrets_reach_steps_only_through_env(path):
    document = expand(load(path))
    for secret in GROUP_SECRETS:
        macro = f"$({secret})"
        in_env = [
            value
            for key, value in _pairs(document)
            if key == "env" and isinstance(value, dict) and macro in value.values()
        ]
        mentions = path.read_text(encoding="utf-8").count(macro)
        assert mentions == len(in_env), f"{macro} used outside an env: mapping"


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_namespaces_are_never_hard_coded(path):
    assert not _namespace_problems(expand(load(path)))


def test_the_namespace_check_finds_literals():
    document = load_text(
        "steps:\n"
        "  - script: helm test x --namespace prod\n"
        "  - script: kubectl get pods -n prod\n"
        "  - script: helm test x --namespace=$(devNamespace)\n"
        "  - task: Kubernetes@1\n"
        "    inputs:\n"
        "      namespace: prod\n"
    )
    assert len(_namespace_problems(document)) == 3


def test_namespaces_come_from_variables_yml():
    variables = load(PIPELINES / "variables.yml")["variables"]
    assert {"trainingNamespace", "devNamespace", "stagingNamespace", "prodNamespace"} <= set(
        variables
    )


@pytest.mark.parametrize("path", ENTRY_PIPELINES, ids=_name)
def test_entry_pipelines_only_assemble_templates(path):
    document = expand(load(path))
    assert "steps" not in document and "jobs" not in document
    variables = document["variables"]
    assert {"template": "variables.yml"} in variables
    assert {"group": "mlrelease-secrets"} in variables
    for stage in document["stages"]:
        if "template" in stage:
            continue
        assert all(set(job) <= {"template", "parameters"} for job in stage["jobs"]), stage


def test_build_pipeline_triggers_on_main_pull_requests_and_nightly():
    document = load(PIPELINES / "build-train.yml")
    assert document["trigger"]["branches"]["include"] == ["main"]
    assert document["pr"]["branches"]["include"] == ["main"]
    (schedule,) = document["schedules"]
    minute, hour, *_ = schedule["cron"].split()
    assert (minute, hour) == ("0", "3")
    assert schedule["always"] == "true"


def test_build_pipeline_takes_typed_runtime_parameters():
    declared = declared_parameters(PIPELINES / "build-train.yml")
    types = {name: parameter["type"] for name, parameter in declared.items()}
    assert types == {
        "dataPrefix": "string",
        "loss": "string",
        "epochs": "number",
        "components": "number",
        "learningRate": "string",
        "minPrecisionAtK": "string",
        "train": "boolean",
    }
    for name in ("learningRate", "minPrecisionAtK"):
        float(declared[name]["default"])


def test_release_runs_when_the_build_pipeline_trains():
    document = load(PIPELINES / "release.yml")
    assert document["trigger"] == "none" and document["pr"] == "none"
    (resource,) = document["resources"]["pipelines"]
    assert resource["source"] == "mlrelease-build-train"
    assert resource["trigger"]["stages"] == ["Train"]


def test_release_environments_run_in_order():
    stages = load(PIPELINES / "release.yml")["stages"]
    names = [stage["parameters"]["name"] for stage in stages]
    assert names == ["dev", "staging", "prod"]
    depends = [stage["parameters"].get("dependsOn", []) for stage in stages]
    assert depends == [[], ["Release_dev"], ["Release_staging"]]


RELEASE_STAGES = load(PIPELINES / "release.yml")["stages"]


@pytest.mark.parametrize(
    "stage", RELEASE_STAGES, ids=[stage["parameters"]["name"] for stage in RELEASE_STAGES]
)
def test_canary_steps_are_a_valid_rollout(stage):
    steps = [float(step) for step in stage["parameters"]["canarySteps"]]
    current = operations.promote(operations.new_document("scoring"), "v1")
    documents = operations.plan(current, "v2", steps)
    assert documents[-1]["versions"][-1] == {"name": "v2", "weight": 100}


def test_a_first_deployment_routes_everything_to_the_new_version():
    template = load(PIPELINES / "templates" / "steps" / "traffic-plan.yml")
    canary, first = template["steps"]
    assert "traffic plan" in canary["script"] and "'true'" in canary["condition"]
    assert "traffic promote" in first["script"] and "'false'" in first["condition"]
    stage = expand(load(PIPELINES / "templates" / "stages" / "release-environment.yml"))
    steps = stage["stages"][0]["jobs"][0]["strategy"]["runOnce"]["deploy"]["steps"]
    routing = [
        step
        for step in steps
        if step.get("template", "").endswith(("helm-upgrade.yml", "canary-step.yml"))
    ]
    first_routing = [step for step in routing if "first.yaml" in str(step)]
    assert len(first_routing) == 1 and "'false'" in first_routing[0]["parameters"]["condition"]
    canaries = [step for step in routing if step["template"].endswith("canary-step.yml")]
    assert canaries and all("'true'" in step["parameters"]["condition"] for step in canaries)


def test_the_rollout_check_rejects_bad_steps():
    with pytest.raises(InputError):
        operations.plan(operations.new_document("scoring"), "v2", [50.0, 10.0])


def test_release_stage_is_a_deployment_job_with_a_rollback():
    document = expand(load(PIPELINES / "templates" / "stages" / "release-environment.yml"))
    (stage,) = document["stages"]
    (job,) = stage["jobs"]
    assert job["environment"] == "${{ parameters.environment }}"
    run_once = job["strategy"]["runOnce"]
    deploy = " ".join(str(step) for step in run_once["deploy"]["steps"])
    assert "helm test scoring-$(versionId)" in deploy
    assert "../steps/canary-step.yml" in deploy
    failure = [step.get("template") for step in run_once["on"]["failure"]["steps"]]
    assert "../steps/restore-routing.yml" in failure


def test_the_rollback_restores_the_saved_routing():
    document = load(PIPELINES / "templates" / "steps" / "restore-routing.yml")
    (script,) = list(scripts(document))
    assert "previous-routing.yaml" in script
    assert "helm upgrade --install ${{ parameters.routingRelease }}" in script
    (save,) = scripts(load(PIPELINES / "templates" / "steps" / "save-routing.yml"))
    assert "helm get values" in save and "previous-routing.yaml" in save


def test_the_training_wait_outlasts_the_jobs_own_deadline():
    # Otherwise the pipeline gives up on a Job the cluster would still let finish.
    wait = load(PIPELINES / "variables.yml")["variables"]["trainingTimeout"]
    chart_values = load(REPO / "charts" / "training" / "values.yaml")
    deadline = int(chart_values["job"]["activeDeadlineSeconds"])
    assert wait.endswith("s") and int(wait[:-1]) > deadline


def test_the_images_are_built_from_dockerfiles_in_the_repository():
    stages = load(PIPELINES / "build-train.yml")["stages"]
    (images,) = [stage for stage in stages if stage.get("stage") == "Images"]
    built = images["jobs"][0]["parameters"]["images"]
    assert [image["dockerfile"] for image in built] == ["training/Dockerfile", "scoring/Dockerfile"]
    for image in built:
        assert (REPO / image["dockerfile"]).is_file()
