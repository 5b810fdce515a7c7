"""Chart and code agree on the environment contract: the names charts set are the names code reads.

Rendered with every option on (the charts' ci/ values), the training Job and the scoring
Deployment must set only variables their program reads, and every variable the program
reads must be one the chart can set, except the few listed here with the reason.
"""

import re
from pathlib import Path

import pytest
from support import pipelines as pipeline_support

from mlrelease.errors import InputError
from mlrelease.rehearsal import manifests
from mlrelease.values import helm

REPO = Path(__file__).resolve().parents[2]
PACKAGE_JOB = REPO / "azure-pipelines" / "templates" / "jobs" / "package.yml"

# Read by the code, deliberately never set by a chart.
NOT_FROM_CHARTS = {
    # In a pod the server binds every interface of the pod's own network namespace, and
    # `python -m scoring` makes the workers' shared metrics folder itself.
    # The server reads the pod-local copy the init container made, never the store, so
    # only the init container gets the storage credentials.
    "scoring": {
        "HOST",
        "PROMETHEUS_MULTIPROC_DIR",
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT_URL",
    },
    "training": set(),
}


def _code_variables(chart: str) -> set[str]:
    if chart == "training":
        from training.config import ENV_VARIABLES
    else:
        from scoring.settings import ENV_VARIABLES
    return set(ENV_VARIABLES)


def _chart_variables(chart: str, kind: str, values_kind: str = "ci") -> dict[str, set[str]]:
    """{container: variables it sets}, rendered with the chart's defaults or its ci/ values."""
    loaded = helm.load_chart(REPO / "charts" / chart)
    values = (
        helm.load_values_files([REPO / "charts" / chart / "ci" / "ci-values.yaml"])
        if values_kind == "ci"
        else {}
    )
    objects = helm.manifests(helm.render(loaded, values, release=f"{chart}-v1", namespace="ns"))
    pod = manifests.pod_spec(manifests.find(objects, kind))
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    return {c["name"]: {variable["name"] for variable in c.get("env", [])} for c in containers}


@pytest.mark.parametrize("values_kind", ["defaults", "ci"])
@pytest.mark.parametrize(("chart", "kind"), [("training", "Job"), ("scoring", "Deployment")])
def test_chart_sets_only_variables_the_code_reads(chart, kind, values_kind):
    main = _chart_variables(chart, kind, values_kind)[chart]
    unknown = main - _code_variables(chart)
    assert not unknown, f"charts/{chart} sets {sorted(unknown)}, which the code never reads"


@pytest.mark.parametrize(("chart", "kind"), [("training", "Job"), ("scoring", "Deployment")])
def test_code_reads_only_variables_the_chart_can_set(chart, kind):
    main = _chart_variables(chart, kind)[chart]
    missing = _code_variables(chart) - main - NOT_FROM_CHARTS[chart]
    assert not missing, f"the code reads {sorted(missing)}, which charts/{chart} never sets"


def test_model_wait_gets_the_model_location_and_storage_credentials():
    containers = _chart_variables("scoring", "Deployment")
    init = next(names for name, names in containers.items() if name != "scoring")
    assert {"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL"} <= init


# --- training defaults: training/config.py DEFAULTS is the one source --------------------------


def _job_env(values: dict) -> dict[str, str]:
    loaded = helm.load_chart(REPO / "charts" / "training")
    objects = helm.manifests(helm.render(loaded, values, release="training-v1", namespace="ns"))
    (container,) = manifests.pod_spec(manifests.find(objects, "Job"))["containers"]
    return {variable["name"]: variable.get("value") for variable in container["env"]}


def _same(a: str, b: object) -> bool:
    try:
        return float(a) == float(str(b))
    except ValueError:
        return a == str(b)


def test_chart_defaults_are_the_trainers_defaults():
    from training.config import DEFAULTS

    env = _job_env({})
    assert {name: env[name] for name in DEFAULTS if not _same(env[name], DEFAULTS[name])} == {}


def _pipeline_value_keys() -> dict[str, str]:
    """{run parameter: chart values key} from the package job's `--value KEY=$VAR` and env."""
    step = next(
        step
        for step in pipeline_support.load(PACKAGE_JOB)["jobs"][0]["steps"]
        if "mlrelease values training" in step.get("script", "")
    )
    by_variable = {
        variable: re.fullmatch(r"\$\{\{ parameters\.(\w+) \}\}", value).group(1)
        for variable, value in step["env"].items()
    }
    return {
        by_variable[variable]: key
        for key, variable in re.findall(r'--value "([\w.]+)=\$(\w+)"', step["script"])
    }


def test_run_parameter_defaults_are_the_trainers_defaults():
    from training.config import DEFAULTS

    defaults = {
        parameter["name"]: parameter.get("default")
        for parameter in pipeline_support.load(REPO / "azure-pipelines" / "build-train.yml")[
            "parameters"
        ]
    }
    keys = _pipeline_value_keys()
    assert keys, "the package job passes no --value to mlrelease values training"
    baseline = _job_env({})
    for parameter, key in keys.items():
        # Which env variable does this values key set? Change it and see.
        section, name = key.split(".")
        for sentinel in ("bpr", 7, 0.75):  # one of them fits the key's schema
            try:
                changed = _job_env({section: {name: sentinel}})
                break
            except InputError:
                continue
        (variable,) = [v for v in baseline if baseline[v] != changed[v]]
        assert _same(DEFAULTS[variable], defaults[parameter]), (
            f"build-train.yml parameter {parameter} defaults to {defaults[parameter]}, "
            f"training/config.py {variable} to {DEFAULTS[variable]}"
        )
