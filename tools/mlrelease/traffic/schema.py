"""The routing document's schema: the routing chart's own `values.schema.json`, nothing else.

`routing-values.schema.json` beside this module is a link to `charts/routing/values.schema.json`
(packaged as a copy), so `mlrelease traffic` refuses exactly the documents the chart refuses;
tests/charts/test_routing_parity.py renders a table of documents through both to prove it.
"""

import json
import re
from importlib import resources
from typing import Any

TRAFFIC_KEYS = ("host", "versions", "abRules", "mirror")


def _chart_schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("routing-values.schema.json").read_text()
    return json.loads(text)


CHART_SCHEMA = _chart_schema()

# The traffic keys of the chart's values, as the chart states them.
TRAFFIC_SCHEMA: dict[str, Any] = {
    "$schema": CHART_SCHEMA.get("$schema"),
    "type": "object",
    "required": [key for key in CHART_SCHEMA.get("required", []) if key in TRAFFIC_KEYS],
    "properties": {key: CHART_SCHEMA["properties"][key] for key in TRAFFIC_KEYS},
}


def _rule_variants() -> list[dict[str, Any]]:
    return TRAFFIC_SCHEMA["properties"]["abRules"]["items"]["oneOf"]


# One variant per match kind; each variant requires header, its kind and version.
MATCH_KINDS = tuple(
    next(key for key in variant["required"] if key not in ("header", "version"))
    for variant in _rule_variants()
)
HEADER_NAME = re.compile(_rule_variants()[0]["properties"]["header"]["pattern"])
