"""Prometheus test support: promtool and the prometheus server, the metric names queries may
use, and PromQL parsing.

The scoring service owns the names of its metrics (scoring/metrics.py registers them); the
Istio and kube-state-metrics names the rules and the dashboard read are listed here once,
each against the exporter that documents it.
"""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client.metrics import MetricWrapperBase

from mlrelease.rehearsal.prometheus import INSTALL_HINT, find_prometheus
from scoring import metrics as scoring_metrics
from support.charts import CHARTS, REPO
from support.ci import unavailable

RULES_FILE = CHARTS / "routing" / "rules" / "mlrelease.rules.yaml"
RULES_TESTS = REPO / "tests" / "prometheus" / "rules_test.yaml"
DASHBOARD = CHARTS / "routing" / "dashboards" / "mlrelease-scoring.json"

# Istio standard metrics (istio.io "Istio Standard Metrics"), as the DESIGN names them.
ISTIO_METRICS = frozenset(
    {
        "istio_requests_total",
        "istio_request_duration_milliseconds_bucket",
        "istio_request_duration_milliseconds_sum",
        "istio_request_duration_milliseconds_count",
    }
)
# kube-state-metrics (docs/metrics/workload/{job,deployment,pod}-metrics.md), v2 names.
KUBE_STATE_METRICS = frozenset(
    {
        "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas_available",
        "kube_job_failed",
        "kube_job_spec_active_deadline_seconds",
        "kube_job_status_active",
        "kube_job_status_start_time",
        "kube_pod_init_container_status_restarts_total",
    }
)
# Recorded by the routing chart's PrometheusRule from the traffic document.
RECORDED_METRICS = frozenset({"mlrelease:routing_weight:percent"})

# What a Grafana variable stands for when a panel's query is parsed outside Grafana.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": "ml",
    "$version": "v.*",
    "$service": "scoring",
}


def promtool() -> str:
    """The promtool binary (Debian's prometheus package): skip where absent, never in CI."""
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool is absent: `make prometheus-tools` installs it")
    return path


def require_prometheus() -> str:
    """The prometheus server binary (the same package), for tests that run a real Prometheus."""
    binary = find_prometheus()
    if binary is None:
        unavailable(f"prometheus not found; {INSTALL_HINT}")
    assert binary is not None
    return binary


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def service_metrics() -> frozenset[str]:
    """Every series name the scoring service exposes, from the metrics it registers."""
    names = set()
    for value in vars(scoring_metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        name, kind = value._name, value._type
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind == "histogram":
            names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        else:
            names.add(name)
    return frozenset(names)


def allowed_metrics() -> frozenset[str]:
    return service_metrics() | ISTIO_METRICS | KUBE_STATE_METRICS | RECORDED_METRICS


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (raises ValueError if it does not parse)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if not node.name:
                raise ValueError(f"a selector without a metric name in {expr!r}")
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def substitute(query: str) -> str:
    """A Grafana query with its variables replaced by example values."""
    # Longest names first, so $__rate_interval is not read as $__range + text.
    for variable in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        query = query.replace(variable, GRAFANA_VARIABLES[variable])
    leftover = re.findall(r"\$\{?\w+", query)
    if leftover:
        raise ValueError(f"unknown Grafana variables {leftover} in {query!r}")
    return query


def rule_groups(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]


def alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]
