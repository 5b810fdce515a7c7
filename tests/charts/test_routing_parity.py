"""`mlrelease traffic` and the routing chart accept and refuse the same documents.

The schema has one owner (charts/routing/values.schema.json); the CLI reads it through
mlrelease.traffic.schema. The rules a schema cannot state (weights sum to 100, unique
versions, rules and mirror naming live versions) are written twice, in the chart's
`routing.validate` helper and in the CLI, so this table drives both over each case.
"""

import filecmp
from pathlib import Path

import pytest
from support.charts import CHARTS

from mlrelease.errors import InputError, MlreleaseError
from mlrelease.traffic import document, schema
from mlrelease.values import helm


def routing(*weights, rules=None, mirror=None, host="scoring", **extra):
    doc = {"host": host, "versions": [{"name": n, "weight": w} for n, w in weights]}
    if rules is not None:
        doc["abRules"] = rules
    if mirror is not None:
        doc["mirror"] = mirror
    return {**doc, **extra}


RULE = {"header": "x-user-group", "exact": "beta", "version": "v2"}
CASES = {
    # accepted
    "one version": (routing(("v1", 100)), True),
    "a split": (routing(("v1", 90), ("v2", 10)), True),
    "a warm version at 0": (routing(("v1", 100), ("v2", 0)), True),
    "an exact rule": (routing(("v1", 90), ("v2", 10), rules=[RULE]), True),
    "a prefix rule": (
        routing(("v1", 100), ("v2", 0), rules=[{"header": "x-g", "prefix": "b", "version": "v2"}]),
        True,
    ),
    "a regex rule": (
        routing(("v1", 100), ("v2", 0), rules=[{"header": "x-g", "regex": "^b", "version": "v2"}]),
        True,
    ),
    "an underscore header": (
        routing(("v1", 100), ("v2", 0), rules=[{**RULE, "header": "x_user"}]),
        True,
    ),
    "a mirror": (routing(("v1", 100), ("v2", 0), mirror={"version": "v2", "percent": 12.5}), True),
    "an empty mirror": (routing(("v1", 100), mirror={}), True),
    "a null mirror": (routing(("v1", 100)) | {"mirror": None}, True),
    "a 40-character id": (routing(("v" + "1" * 39, 100)), True),
    # refused
    "no versions": (routing(), False),
    "weights summing to 90": (routing(("v1", 90)), False),
    "a weight above 100": (routing(("v1", 101), ("v2", -1)), False),
    "a fractional weight": (routing(("v1", 99.5), ("v2", 0.5)), False),
    "a version listed twice": (routing(("v1", 50), ("v1", 50)), False),
    "an uppercase version": (routing(("V1", 100)), False),
    "a 41-character id": (routing(("v" + "1" * 40, 100)), False),
    "an uppercase header": (
        routing(("v1", 90), ("v2", 10), rules=[{**RULE, "header": "X-G"}]),
        False,
    ),
    "a header with a space": (
        routing(("v1", 90), ("v2", 10), rules=[{**RULE, "header": "x g"}]),
        False,
    ),
    "a non-ASCII header": (
        routing(("v1", 90), ("v2", 10), rules=[{**RULE, "header": "x-é"}]),
        False,
    ),
    "a rule with two kinds": (
        routing(("v1", 90), ("v2", 10), rules=[{**RULE, "prefix": "b"}]),
        False,
    ),
    "a rule with no kind": (
        routing(("v1", 90), ("v2", 10), rules=[{"header": "x-g", "version": "v2"}]),
        False,
    ),
    "a rule to a version not live": (routing(("v1", 100), rules=[RULE]), False),
    "a mirror to a version not live": (
        routing(("v1", 100), mirror={"version": "v2", "percent": 5}),
        False,
    ),
    "a mirror above 100": (
        routing(("v1", 100), ("v2", 0), mirror={"version": "v2", "percent": 150}),
        False,
    ),
    "a mirror without percent": (routing(("v1", 100), ("v2", 0), mirror={"version": "v2"}), False),
    "a host that is not a DNS label": (routing(("v1", 100), host="Bad Host!"), False),
    "an empty host": (routing(("v1", 100), host=""), False),
}


def chart_accepts(chart, values) -> bool:
    try:
        helm.render(chart, values, release="scoring-routing", namespace="mlrelease")
    except MlreleaseError:
        return False
    return True


def cli_accepts(values) -> bool:
    try:
        document.check(values, "routing.yaml")
    except InputError:
        return False
    return True


@pytest.mark.parametrize(("values", "accepted"), CASES.values(), ids=CASES.keys())
def test_chart_and_cli_agree(charts, values, accepted):
    assert chart_accepts(charts["routing"], values) is accepted
    assert cli_accepts(values) is accepted


def test_the_cli_reads_the_charts_own_schema():
    packaged = Path(schema.__file__).with_name("routing-values.schema.json")
    assert filecmp.cmp(packaged, CHARTS / "routing" / "values.schema.json", shallow=False)
    assert (
        schema.TRAFFIC_SCHEMA["properties"]["abRules"]
        is schema.CHART_SCHEMA["properties"]["abRules"]
    )
