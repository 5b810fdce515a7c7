"""The three charts' helpers: one text for what they share, labels that carry the selector
labels (as `helm create` writes them), and the model folder path the Python store builds.

The charts are installed independently, so each carries its own `_helpers.tpl`; this test
is what keeps the shared helpers one definition: a copy that drifts fails here.
"""

import re

import pytest
from support.charts import CHART_NAMES, CHARTS, ci_values, render_objects

from mlrelease.store import artifact
from mlrelease.values import helm

# Helpers every chart has, and those the two workload charts share.
SHARED_BY_ALL = (
    "name",
    "fullname",
    "chart",
    "selectorLabels",
    "labels",
    "checkovSkips",
)
# Routing has no build of its own: its annotations are the provenance of the run that changed it.
SHARED_BY_WORKLOADS = ("annotations", "serviceAccountName", "storageEnv", "modelUri")
DEFINE = re.compile(r'{{- define "(\w+)\.(\w+)" -}}\n(.*?)\n{{- end }}\n(?={{|\n|\Z)', re.S)


def helpers(chart: str) -> dict[str, str]:
    """{helper: body with the chart's own prefix written as CHART}."""
    text = (CHARTS / chart / "templates" / "_helpers.tpl").read_text()
    return {
        name: body.replace(f'"{prefix}.', '"CHART.')
        for prefix, name, body in DEFINE.findall(text)
        if prefix == chart
    }


@pytest.mark.parametrize("name", SHARED_BY_ALL)
def test_every_chart_has_the_same_helper(name):
    bodies = {chart: helpers(chart).get(name) for chart in CHART_NAMES}
    assert None not in bodies.values(), bodies
    assert len(set(bodies.values())) == 1, f"{name} differs between charts: {bodies}"


@pytest.mark.parametrize("name", SHARED_BY_WORKLOADS)
def test_training_and_scoring_share_the_helper(name):
    assert helpers("training")[name] == helpers("scoring")[name]


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_every_object_carries_its_selector_labels(charts, chart):
    objects = render_objects(charts[chart], ci_values(CHARTS, chart), f"{chart}-v1")
    selector = {"app.kubernetes.io/name": chart, "app.kubernetes.io/instance": f"{chart}-v1"}
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert selector.items() <= labels.items(), f"{obj['kind']}: {labels}"


@pytest.mark.parametrize("models_uri", ["az://models", "az://models/", "/mnt/models", "file:///m/"])
def test_model_folder_is_the_path_the_store_builds(charts, models_uri):
    expected = artifact.version_uri(models_uri, "recommender", "v20261127-3-4b46ac11")
    model = {"modelsUri": models_uri, "name": "recommender"}
    values = {"versionId": "v20261127-3-4b46ac11", "buildNumber": "20261127.3", "model": model}
    scoring = helm.render(charts["scoring"], values, release="scoring-v1", namespace="ns")
    assert f"\n  {expected}\n" in scoring["scoring/templates/NOTES.txt"] + "\n"
    training_values = {**values, "data": {"uri": "az://etl/x"}}
    notes = helm.render(charts["training"], training_values, release="training-v1", namespace="ns")
    assert f"\n  {expected}\n" in notes["training/templates/NOTES.txt"]
