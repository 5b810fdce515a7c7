"""`mlrelease analyze` against a real Prometheus scraping an exporter of planted series.

One exporter serves a baseline and one candidate per scenario; one Prometheus scrapes it
every second. Both are processes started here and stopped by PID, also when a test fails.
"""

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from support.cli import run_mlrelease
from support.prometheus import require_prometheus

from mlrelease.rehearsal.azurite import free_port
from mlrelease.rehearsal.prometheus import PrometheusServer

EXPORTER = Path(__file__).resolve().parents[1] / "support" / "planted_exporter.py"
WINDOW_SECONDS = 10
FAST = [[5, 0.6], [10, 0.39], [25, 0.01]]
SCORES = [[2, 0.3], [3, 0.5], [4, 0.2]]
HEALTHY = {"rps": 10, "latencyMs": FAST, "fallbackShare": 0.02, "topScores": SCORES}
SCENARIO = {
    "versions": {
        "v1-baseline": {**HEALTHY, "rps": 40},
        "v2-healthy": HEALTHY,
        "v3-errors": {**HEALTHY, "errorShare": 0.05},
        "v4-slow": {**HEALTHY, "latencyMs": [[10, 0.9], [1000, 0.1]]},
        "v5-quiet": {**HEALTHY, "rps": 0.2},
        "v6-diverged": {**HEALTHY, "fallbackShare": 0.3, "topScores": [[100, 0.5], [1000, 0.5]]},
    }
}
CONFIG = f"interval: {WINDOW_SECONDS}s\nminRequests: 20\n"


def _samples(url: str, query: str) -> float:
    with urllib.request.urlopen(
        f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=5
    ) as response:
        result = json.loads(response.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """Prometheus with a full analysis window of planted series behind it."""
    binary = require_prometheus()
    workdir = tmp_path_factory.mktemp("prometheus")
    scenario = workdir / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, str(EXPORTER), str(port), str(scenario)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrometheusServer(binary, workdir, {"planted": [f"127.0.0.1:{port}"]})
    try:
        server.start()
        probe = 'count_over_time(istio_requests_total{destination_version="v1-baseline"}[1m])'
        deadline = time.monotonic() + 60
        while _samples(server.url, f"max({probe})") <= WINDOW_SECONDS + 1:
            assert time.monotonic() < deadline, "Prometheus did not scrape the exporter"
            time.sleep(1)
        yield server
    finally:
        server.stop()
        exporter.terminate()
        exporter.wait(timeout=10)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "analysis.yaml"
    path.write_text(CONFIG)
    return path


def analyze(prometheus, config, candidate, *extra):
    return run_mlrelease(
        "analyze",
        *("--prometheus-url", prometheus.url, "--config", config),
        *("--candidate", candidate, "--baseline", "v1-baseline", *extra),
    )


def rows(result):
    """{check: (result column)} from the printed table."""
    table = {}
    for line in result.stdout.splitlines()[1:]:
        if not line.strip():
            break
        table[line.split()[0]] = line
    return table


def test_a_healthy_canary_passes_every_check(prometheus, config, tmp_path):
    markdown = tmp_path / "verdict.md"
    verdict = tmp_path / "verdict.json"
    result = analyze(prometheus, config, "v2-healthy", "--markdown", markdown, "--json", verdict)
    assert result.returncode == 0, result.stdout + result.stderr
    table = rows(result)
    assert set(table) == {
        "request-count",
        "success-rate",
        "latency-p99",
        "fallback-share",
        "top1-score-median",
    }
    assert all(line.rstrip().endswith("pass") for line in table.values()), result.stdout
    assert "verdict: healthy" in result.stdout
    assert 'istio_requests_total{reporter="destination"' in result.stdout
    data = json.loads(verdict.read_text())
    values = {row["name"]: row["value"] for row in data["rows"]}
    assert values["success-rate"] == pytest.approx(1.0)
    assert values["request-count"] == pytest.approx(10 * WINDOW_SECONDS, rel=0.25)
    assert values["fallback-share"] == pytest.approx(0.02, abs=0.005)
    assert 2 <= values["top1-score-median"] <= 3
    assert markdown.read_text().startswith("### Canary analysis of `v2-healthy`: healthy")
    # The observed split behind the Service, every version's requests in the window, goes
    # into the report for the release summary's picture.
    traffic = data["traffic"]
    assert set(traffic) == set(SCENARIO["versions"])
    assert traffic["v1-baseline"] == pytest.approx(4 * traffic["v2-healthy"], rel=0.25)
    assert "Requests by version within 10s: `v1-baseline`" in markdown.read_text()


def test_five_percent_errors_fail_the_success_rate(prometheus, config):
    result = analyze(prometheus, config, "v3-errors")
    assert result.returncode == 1, result.stdout + result.stderr
    line = rows(result)["success-rate"]
    assert "95.00%" in line and "FAIL" in line
    assert "verdict: failing: roll back v3-errors (failed: success-rate)" in result.stdout


def test_a_p99_above_its_range_fails(prometheus, config):
    result = analyze(prometheus, config, "v4-slow")
    assert result.returncode == 1, result.stdout + result.stderr
    line = rows(result)["latency-p99"]
    assert "FAIL" in line and "outside <= 500.0 ms" in line
    assert float(line.split()[1]) > 500


def test_a_model_that_answers_differently_fails_the_model_checks(prometheus, config):
    result = analyze(prometheus, config, "v6-diverged")
    assert result.returncode == 1
    table = rows(result)
    assert "FAIL" in table["fallback-share"] and "vs baseline" in table["fallback-share"]
    assert "FAIL" in table["top1-score-median"] and "x baseline" in table["top1-score-median"]
    assert "pass" in table["success-rate"]


def test_too_little_traffic_waits_for_the_interval_then_fails_safe(prometheus, config):
    started = time.monotonic()
    result = analyze(prometheus, config, "v5-quiet", "--interval", "4s")
    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - started >= 4
    assert "too little traffic within 4s: fails safe" in rows(result)["request-count"]
    assert "waiting for traffic" in result.stderr
    assert "success-rate" not in rows(result)


def test_prometheus_unreachable_fails_safe_with_a_clear_message(config):
    result = run_mlrelease(
        "analyze",
        *("--prometheus-url", f"http://127.0.0.1:{free_port()}", "--config", config),
        *("--candidate", "v2-healthy", "--baseline", "v1-baseline"),
    )
    assert result.returncode == 1
    assert "is unreachable" in result.stderr and "fails safe" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_query_answer_is_an_error_not_a_pass(prometheus, config, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG + 'service: "x"\n')
    result = analyze(prometheus, bad, "v2-healthy", "--interval", "2s")
    assert result.returncode == 1
    assert "too little traffic" in result.stdout
