"""Every values.schema.json closes every object, so a mistyped key fails loudly."""

import json

import pytest
from support.charts import CHART_NAMES, CHARTS


def _objects(schema, where="$"):
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            yield where, schema
        for key, value in schema.items():
            yield from _objects(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _objects(item, f"{where}[{index}]")


@pytest.mark.parametrize("name", CHART_NAMES)
def test_every_object_in_the_schema_is_closed(name):
    schema = json.loads((CHARTS / name / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    free_form = {"nodeAffinity", "podAffinity", "podAntiAffinity"}
    for where, node in _objects(schema):
        if where.rsplit(".", 1)[-1] in free_form:
            continue  # Kubernetes affinity: its own schema checks it after rendering
        extra = node.get("additionalProperties")
        # Either closed, or a map whose values are typed (labels, annotations, facts).
        assert extra is False or (isinstance(extra, dict) and "type" in extra), where


@pytest.mark.parametrize("name", CHART_NAMES)
def test_chart_defaults_satisfy_the_schema(charts, name):
    charts[name].validate_schema({})


def test_reference_schemas_skip_locally_but_fail_under_ci(monkeypatch, tmp_path):
    from support import charts as chart_support

    monkeypatch.setattr(chart_support, "SHARED_SCHEMAS", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        chart_support.shared_schema("istio-crds.gen.yaml")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        chart_support.shared_schema("istio-crds.gen.yaml")
