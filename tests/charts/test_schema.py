"""Every values.schema.json closes every object, so a mistyped key fails loudly; the reference
schemas in tests/schemas/ are the ones their README names."""

import json
import re

import pytest
from support.charts import CHART_NAMES, CHARTS
from support.schemas import SCHEMAS


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


def test_the_reference_schemas_readme_lists_exactly_the_files_kept():
    rows = re.findall(r"^\| `([^`]+)` \|", (SCHEMAS / "README.md").read_text(), re.MULTILINE)
    kept = sorted(path.name for path in SCHEMAS.iterdir() if path.name != "README.md")
    assert sorted(rows) == kept
