"""A small Prometheus exporter serving planted series: `python planted_exporter.py PORT SCENARIO`.

SCENARIO is a JSON file: per version, a request rate and how those requests went (error
share, latency buckets, fallback share, top-1 score buckets). Every counter is
`rate x seconds since start`, so Prometheus's first scrape sees zeros and `rate()` gives
back exactly the planted rate. The series have the names and labels of Istio's standard
telemetry (reporter="destination") and of the scoring service's own metrics.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _buckets(name: str, labels: str, count: float, shares: list[list[float]]) -> list[str]:
    """Cumulative `_bucket` lines (plus +Inf, _count) for `count` observations."""
    lines, cumulative = [], 0.0
    for upper, share in shares:
        cumulative += share
        lines.append(f'{name}_bucket{{{labels},le="{upper}"}} {count * cumulative}')
    lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {count}')
    lines.append(f"{name}_count{{{labels}}} {count}")
    return lines


def exposition(scenario: dict, elapsed: float) -> str:
    """The exposition text `elapsed` seconds after the start."""
    lines = [
        "# TYPE istio_requests_total counter",
        "# TYPE istio_request_duration_milliseconds histogram",
        "# TYPE scoring_recommendations_total counter",
        "# TYPE scoring_top_score histogram",
    ]
    service = scenario.get("service", "scoring")
    for version, spec in scenario["versions"].items():
        total = spec["rps"] * elapsed
        istio = (
            f'reporter="destination",destination_service_name="{service}",'
            f'destination_service_namespace="mlrelease",destination_version="{version}"'
        )
        errors = total * spec.get("errorShare", 0.0)
        lines.append(f'istio_requests_total{{{istio},response_code="200"}} {total - errors}')
        lines.append(f'istio_requests_total{{{istio},response_code="503"}} {errors}')
        lines += _buckets("istio_request_duration_milliseconds", istio, total, spec["latencyMs"])
        fallbacks = total * spec.get("fallbackShare", 0.0)
        scoring = f'model_version="{version}"'
        lines.append(
            f'scoring_recommendations_total{{{scoring},fallback="none"}} {total - fallbacks}'
        )
        lines.append(
            f'scoring_recommendations_total{{{scoring},fallback="popularity"}} {fallbacks}'
        )
        lines += _buckets("scoring_top_score", scoring, total - fallbacks, spec["topScores"])
    return "\n".join(lines) + "\n"


def main() -> None:
    port, scenario_path = int(sys.argv[1]), sys.argv[2]
    with open(scenario_path) as handle:
        scenario = json.load(handle)
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition(scenario, time.monotonic() - started).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
