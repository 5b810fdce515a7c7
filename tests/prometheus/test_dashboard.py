"""The Grafana dashboard: generated, not hand-edited, and every query parses and reads only
metrics the scoring service, Istio or kube-state-metrics export (or the routing chart records).
"""

import json
import subprocess
import sys

import pytest
import yaml
from support.charts import REPO
from support.prometheus import (
    DASHBOARD,
    allowed_metrics,
    metric_names,
    run_promtool,
    service_metrics,
    substitute,
)


def _panels(board):
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _queries(board) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable's selector."""
    queries = [
        (f"{panel['title']}/{target['refId']}", target["expr"])
        for panel in _panels(board)
        for target in panel.get("targets", [])
    ]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(<selector>, <label>): the selector is PromQL.
            inner = variable["query"].removeprefix("label_values(").rsplit(",", 1)[0]
            queries.append((f"${variable['name']}", inner))
    return queries


@pytest.fixture(scope="module")
def board():
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_the_committed_dashboard_is_what_the_generator_writes():
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "dashboard.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_drift_check_fails_on_a_hand_edit(tmp_path, board):
    edited = tmp_path / "board.json"
    edited.write_text(DASHBOARD.read_text().replace('"30s"', '"1m"', 1))
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "dashboard.py"), "--check", "--out", str(edited)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1 and "run python tools/dashboard.py" in result.stderr


def test_every_query_parses_with_promtool(tmp_path, board):
    queries = _queries(board)
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": substitute(expr)}
                    for i, (_, expr) in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump(rules))
    result = run_promtool("check", "rules", str(tmp_path / "queries.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_queries_name_only_metrics_that_something_exports(board):
    used = set()
    for where, expr in _queries(board):
        names = metric_names(substitute(expr))
        assert names, where
        unknown = names - allowed_metrics()
        assert unknown == set(), (where, unknown)
        used |= names
    # The service's own signals are all on the dashboard.
    assert {
        "scoring_requests_total",
        "scoring_request_errors_total",
        "scoring_request_duration_seconds_bucket",
        "scoring_model_ready",
        "scoring_model_load_failures_total",
    } <= used & service_metrics()
    assert {"istio_requests_total", "mlrelease:routing_weight:percent"} <= used


def test_the_name_check_catches_an_unknown_metric_and_a_bad_query():
    assert metric_names('sum(rate(scoring_request_total{a="b"}[5m]))') - allowed_metrics() == {
        "scoring_request_total"
    }
    with pytest.raises(ValueError):
        metric_names("sum(rate(scoring_requests_total[5m])")
    with pytest.raises(ValueError, match="unknown Grafana variables"):
        substitute("rate(x[$interval])")


def test_the_dashboard_shows_what_on_call_needs(board):
    titles = {panel["title"] for panel in _panels(board)}
    assert {
        "Requests per second",
        "5xx share",
        "Latency p50 and p99",
        "Popularity fallback share",
        "Top-1 score distribution",
        "Model loaded",
        "Configured routing weights",
        "Observed traffic share (Istio)",
    } <= titles
    assert board["uid"] == "mlrelease-scoring"
    datasources = {
        json.dumps(panel["datasource"]) for panel in _panels(board) if "datasource" in panel
    }
    assert datasources == {json.dumps({"type": "prometheus", "uid": "${datasource}"})}
