"""Judging rules and the analysis document, with values from a stand-in for Prometheus."""

import pytest
from support.cli import run_mlrelease

from mlrelease.analysis import document, verdict
from mlrelease.errors import InputError


class Planted:
    """Answers each query from {(check name, version): value}, matching on the PromQL."""

    def __init__(self, values):
        self.values = values
        self.queries = []

    def value(self, promql):
        self.queries.append(promql)
        for (metric, version), value in self.values.items():
            if metric in promql and f'"{version}"' in promql:
                return value
        return None


MARKERS = {
    "count": "increase(istio_requests_total",
    "success": 'response_code!~"5.."',
    "p99": "istio_request_duration",
    "fallback": 'fallback!="none"',
    "score": "scoring_top_score",
}


def planted(candidate, baseline):
    values = {}
    for version, numbers in (("v2", candidate), ("v1", baseline)):
        for key, value in numbers.items():
            values[(MARKERS[key], version)] = value
    return Planted(values)


HEALTHY = {"count": 500, "success": 1.0, "p99": 12.0, "fallback": 0.02, "score": 2.5}


def judge(candidate, baseline=HEALTHY, raw=None, **kwargs):
    doc = document.check(raw or {"interval": "10s"}, "test")
    clock = iter(range(0, 1000, 1))
    return verdict.judge(
        doc,
        "v2",
        "v1",
        planted(candidate, baseline),
        sleep=lambda s: None,
        clock=lambda: next(clock),
        **kwargs,
    )


def results(v):
    return {row.name: row.result for row in v.rows}


def test_defaults_come_from_the_schema_and_a_declared_metric_replaces_its_default():
    doc = document.check({"metrics": {"latencyP99": {"thresholdRange": {"max": 300}}}}, "t")
    assert doc["interval"] == "5m" and doc["minRequests"] == 100
    assert doc["metrics"]["latencyP99"] == {"thresholdRange": {"max": 300}, "enabled": True}
    assert doc["metrics"]["successRate"]["thresholdRange"] == {"min": 0.99}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"interval": "5 minutes"}, "interval"),
        ({"metrics": {"latencyP99": {"thresholdRange": {}}}}, "should be non-empty"),
        ({"metrics": {"latency": {}}}, "Additional properties"),
        ({"metrics": {"successRate": {"thresholdRange": {"min": 1, "max": 0.5}}}}, "min is above"),
        ({"minRequests": 0}, "minRequests"),
    ],
)
def test_a_bad_document_is_refused_with_where_and_why(raw, message):
    with pytest.raises(InputError, match=message):
        document.check(raw, "analysis.yaml")


def test_a_healthy_candidate_passes():
    v = judge(HEALTHY)
    assert v.passed and set(results(v).values()) == {"pass"}


def test_relative_ranges_compare_with_the_baseline():
    v = judge({**HEALTHY, "p99": 30.0, "fallback": 0.2, "score": 0.5})
    assert not v.passed
    assert results(v) == {
        "request-count": "pass",
        "success-rate": "pass",
        "latency-p99": "FAIL",
        "fallback-share": "FAIL",
        "top1-score-median": "FAIL",
    }
    notes = {row.name: row.note for row in v.rows}
    assert notes["latency-p99"] == "2.50x baseline"
    assert notes["fallback-share"] == "18.00% vs baseline"


def test_missing_data_fails_safe():
    v = judge({"count": 500, "success": 1.0})
    assert results(v)["latency-p99"] == "FAIL"
    assert "no data for the candidate" in v.rows[2].note


def test_a_quiet_baseline_skips_only_relative_ranges():
    v = judge({**HEALTHY, "p99": 30.0}, baseline={"count": 3})
    assert v.passed
    assert results(v)["latency-p99"] == "pass"  # its absolute range still judged
    assert results(v)["top1-score-median"] == "skipped"
    assert "baseline had 3 requests" in v.rows[-1].note


def test_too_little_traffic_is_waited_for_then_fails_safe():
    lines = []
    v = judge({**HEALTHY, "count": 5}, log=lines.append)
    assert not v.passed and [row.name for row in v.rows] == ["request-count"]
    assert lines and "waiting for traffic" in lines[0]


def test_failed_iterations_up_to_the_tolerance_pass():
    raw = {"interval": "10s", "iterations": 3, "failedChecksTolerated": 1}
    assert not judge({**HEALTHY, "success": 0.9}, raw=raw).passed
    v = judge(HEALTHY, raw=raw)
    assert v.passed and len(v.iterations) == 3


def test_the_markdown_shows_each_check_with_its_query():
    text = verdict.markdown(judge({**HEALTHY, "success": 0.9}))
    assert text.startswith("### Canary analysis of `v2`: failing: rolled back")
    assert (
        "| success-rate | 90.00% | 100.00% | >= 99.00% | FAIL: 90.00% outside >= 99.00% |" in text
    )


def test_explain_prints_the_promql_without_prometheus():
    result = run_mlrelease("analyze", "--candidate", "v2", "--baseline", "v1", "--explain")
    assert result.returncode == 0, result.stderr
    assert 'destination_version="v2"' in result.stdout
    assert "histogram_quantile(0.99" in result.stdout


def test_the_baseline_is_the_heaviest_other_version_of_the_routing_in_force(tmp_path):
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "host: scoring\nversions:\n- {name: v1, weight: 70}\n- {name: v0, weight: 30}\n"
    )
    result = run_mlrelease("analyze", "--candidate", "v2", "--baseline-from", routing, "--explain")
    assert result.returncode == 0, result.stderr
    assert 'destination_version="v1"' in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "v2"], "the baseline is the candidate"),
        (["--baseline", "v1"], "--prometheus-url is required"),
        (["--baseline", "v1", "--interval", "soon", "--explain"], "is not a duration"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    result = run_mlrelease("analyze", "--candidate", "v2", *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
