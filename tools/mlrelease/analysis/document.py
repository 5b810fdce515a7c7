"""The analysis document: what `mlrelease analyze` checks and the thresholds it judges by.

A small YAML file validated by `analysis.schema.json`, which is also the one place the
defaults live: a key left out takes the schema's `default`, and a metric that is declared
replaces that metric's default as a whole (so `latencyP99: {thresholdRange: {max: 300}}`
drops the default baseline ratio). With no file, every default applies.
"""

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from mlrelease.errors import InputError
from mlrelease.values import yamlio

_DURATION = re.compile(r"([1-9][0-9]*)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def schema() -> dict[str, Any]:
    """The analysis document's JSON schema (package data)."""
    text = resources.files("mlrelease.analysis").joinpath("analysis.schema.json").read_text()
    return json.loads(text)


def load(path: Path | None, source: str | None = None) -> dict[str, Any]:
    """The checked document at `path` with every default filled in (all defaults for None)."""
    raw: Any = {}
    if path is not None:
        raw = yamlio.load_path(path)
        raw = {} if raw is None else json.loads(json.dumps(raw))
    return check(raw, source or (str(path) if path else "the default analysis"))


def check(raw: Any, source: str) -> dict[str, Any]:
    """Validate `raw` against the schema and return it with the defaults filled in."""
    if not isinstance(raw, dict):
        raise InputError(f"{source} is not a YAML mapping; see `mlrelease analyze --help`")
    rules = schema()
    errors = sorted(jsonschema.Draft202012Validator(rules).iter_errors(raw), key=str)
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "the top level"
        raise InputError(f"{source}: {where}: {error.message}")
    document = _with_defaults(raw, rules)
    for name, metric in document["metrics"].items():
        for kind in ("thresholdRange", "baselineRatio", "baselineDifference"):
            bounds = metric.get(kind, {})
            if bounds.get("min", float("-inf")) > bounds.get("max", float("inf")):
                raise InputError(f"{source}: metrics.{name}.{kind}: min is above max")
    return document


def seconds(duration: str) -> float:
    """A Prometheus duration such as `30s` or `5m` in seconds."""
    match = _DURATION.fullmatch(duration)
    if not match:
        raise InputError(f"interval {duration!r} is not a duration such as 30s, 5m or 1h")
    return int(match[1]) * _SECONDS[match[2]]


def _with_defaults(raw: dict[str, Any], rules: dict[str, Any]) -> dict[str, Any]:
    document = {key: raw.get(key, spec.get("default")) for key, spec in rules["properties"].items()}
    metric_rules = rules["properties"]["metrics"]["properties"]
    enabled_default = rules["$defs"]["metric"]["properties"]["enabled"]["default"]
    metrics = {}
    for name, spec in metric_rules.items():
        metric = dict(raw.get("metrics", {}).get(name, spec["default"]))
        metric.setdefault("enabled", enabled_default)
        metrics[name] = metric
    document["metrics"] = metrics
    return document
