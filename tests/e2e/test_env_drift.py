"""Chart and code agree on the environment contract: the names charts set are the names code reads.

Rendered with every option on (the charts' ci/ values), the training Job and the scoring
Deployment must set only variables their program reads, and every variable the program
reads must be one the chart can set, except the few listed here with the reason.
"""

from pathlib import Path

import pytest

from mlrelease.rehearsal import manifests
from mlrelease.values import helm

REPO = Path(__file__).resolve().parents[2]

# Read by the code, deliberately never set by a chart.
NOT_FROM_CHARTS = {
    # In a pod the server binds every interface of the pod's own network namespace, and
    # `python -m scoring` makes the workers' shared metrics folder itself.
    "scoring": {"HOST", "PROMETHEUS_MULTIPROC_DIR"},
    "training": set(),
}


def _code_variables(chart: str) -> set[str]:
    if chart == "training":
        from training.config import ENV_VARIABLES
    else:
        from scoring.settings import ENV_VARIABLES
    return set(ENV_VARIABLES)


def _chart_variables(chart: str, kind: str) -> dict[str, set[str]]:
    loaded = helm.load_chart(REPO / "charts" / chart)
    values = helm.load_values_files([REPO / "charts" / chart / "ci" / "ci-values.yaml"])
    objects = helm.manifests(helm.render(loaded, values, release=f"{chart}-v1", namespace="ns"))
    pod = manifests.pod_spec(manifests.find(objects, kind))
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    return {c["name"]: {variable["name"] for variable in c.get("env", [])} for c in containers}


@pytest.mark.parametrize(("chart", "kind"), [("training", "Job"), ("scoring", "Deployment")])
def test_chart_sets_only_variables_the_code_reads(chart, kind):
    main = _chart_variables(chart, kind)[chart]
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
