"""A small Istio stand-in: route requests the way the rendered VirtualService says, and
report them the way Istio's telemetry does.

Only what the routing chart renders is interpreted: HTTP routes tried in order, header
matches (exact, prefix, regex; all headers of one match must hold, any match of a route
will do), weighted destinations by subset, and a mirror with a percentage. Anything else
in the VirtualService that would change where a request goes is an error rather than
silently ignored; retries and timeouts change only how, so they pass.
"""

import dataclasses
import http.client
import random
import re
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlrelease.errors import MlreleaseError


@dataclasses.dataclass(frozen=True)
class Decision:
    """Where one request goes: the version that answers and, maybe, a mirrored copy."""

    version: str
    mirror: str | None
    route: str


class Mesh:
    """Route decisions from a rendered VirtualService and DestinationRule."""

    def __init__(self, virtual_service: dict[str, Any], destination_rule: dict[str, Any]) -> None:
        self.subsets = {
            subset["name"]: subset["labels"]["version"]
            for subset in destination_rule["spec"].get("subsets", [])
        }
        self.routes = virtual_service["spec"]["http"]
        for route in self.routes:
            unknown = set(route) - {
                *("name", "match", "route", "mirror", "mirrorPercentage", "retries", "timeout")
            }
            if unknown:
                raise MlreleaseError(f"VirtualService route uses {sorted(unknown)}, not rehearsed")

    def decide(self, headers: Mapping[str, str], rng: random.Random) -> Decision:
        """The version Istio would send a request with `headers` to."""
        lowered = {key.lower(): value for key, value in headers.items()}
        for index, route in enumerate(self.routes):
            matches = route.get("match")
            if matches and not any(_match(m, lowered) for m in matches):
                continue
            destinations = route["route"]
            weights = [d.get("weight", 100 if len(destinations) == 1 else 0) for d in destinations]
            chosen = rng.choices(destinations, weights=weights)[0] if sum(weights) else None
            if chosen is None:
                raise MlreleaseError(f"route {index} has no destination with weight above 0")
            mirror = None
            if "mirror" in route:
                percent = route.get("mirrorPercentage", {}).get("value", 100)
                if rng.random() * 100 < percent:
                    mirror = self.subsets[route["mirror"]["subset"]]
            name = route.get("name", f"route {index}")
            return Decision(self.subsets[chosen["destination"]["subset"]], mirror, name)
        raise MlreleaseError("no VirtualService route matched; Istio would answer 404")


def _match(match: dict[str, Any], headers: Mapping[str, str]) -> bool:
    unknown = set(match) - {"headers", "name"}
    if unknown:
        raise MlreleaseError(f"VirtualService match uses {sorted(unknown)}, not rehearsed")
    for name, condition in match.get("headers", {}).items():
        value = headers.get(name.lower())
        if value is None:
            return False
        if "exact" in condition and value != condition["exact"]:
            return False
        if "prefix" in condition and not value.startswith(condition["prefix"]):
            return False
        if "regex" in condition and not re.fullmatch(condition["regex"], value):
            return False
    return True


# Istio's default buckets for istio_request_duration_milliseconds.
ISTIO_DURATION_BUCKETS_MS = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
    600000, 1800000, 3600000,
)  # fmt: skip
METRICS_PATH = "/stats/prometheus"  # where an Istio sidecar serves its metrics


class MeshProxy:
    """The stand-in's data plane: an HTTP proxy on 127.0.0.1 that routes each request as the
    current `Mesh` decides and records Istio's standard telemetry for it.

    Istio cannot run here, so this is what gives Prometheus Istio-shaped series:
    `istio_requests_total` and `istio_request_duration_milliseconds` with the labels Istio's
    server-side proxy reports (reporter="destination", destination_service_name,
    destination_service_namespace, destination_version, response_code), served at the
    sidecar's `/stats/prometheus`. Mirroring is decided but not sent: no rehearsal step
    mirrors, and real Istio reports shadow copies only at the destination anyway.
    """

    def __init__(self, service: str, namespace: str, upstreams: dict[str, int]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.service = service
        self.namespace = namespace
        self.upstreams = upstreams
        self.mesh: Mesh | None = None
        self.rng = random.Random(20261127)
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        labels = [
            "reporter",
            "destination_service_name",
            "destination_service_namespace",
            "destination_version",
            "destination_workload",
            "response_code",
        ]
        self.requests = Counter(
            "istio_requests_total", "Requests (Istio standard metric).", labels,
            registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "istio_request_duration_milliseconds",
            "Request duration in milliseconds (Istio standard metric).",
            labels,
            buckets=ISTIO_DURATION_BUCKETS_MS,
            registry=self.registry,
        )
        # Zeros first: Prometheus counts an increase only from a sample it has seen.
        for version in upstreams:
            self._children(version, 200)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "MeshProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def route(self, mesh: Mesh) -> None:
        """Apply a newly rendered VirtualService, as Istio does on a routing upgrade."""
        with self._lock:
            self.mesh = mesh

    def _children(self, version: str, status: int) -> tuple:
        values = (
            "destination", self.service, self.namespace, version, f"scoring-{version}",
            str(status),
        )  # fmt: skip
        return self.requests.labels(*values), self.duration.labels(*values)

    def _forward(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            mesh = self.mesh
            if mesh is None:
                return 503, b'{"error": "no routing applied yet"}', {}
            decision = mesh.decide(headers, self.rng)
        started = time.perf_counter()
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.upstreams[decision.version], timeout=30
        )
        try:
            connection.request("GET", path, headers={**headers, "Connection": "close"})
            response = connection.getresponse()
            status, body = response.status, response.read()
            answer_headers = dict(response.getheaders())
        except OSError:
            status, body, answer_headers = 503, b'{"error": "upstream unreachable"}', {}
        finally:
            connection.close()
        elapsed_ms = (time.perf_counter() - started) * 1000
        count, duration = self._children(decision.version, status)
        count.inc()
        duration.observe(elapsed_ms)
        return status, body, answer_headers

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive from the client, and no Nagle delay between headers and body.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                if self.path == METRICS_PATH:
                    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

                    status, body = 200, generate_latest(proxy.registry)
                    headers = {"Content-Type": CONTENT_TYPE_LATEST}
                else:
                    status, body, headers = proxy._forward(self.path, dict(self.headers))
                self.send_response(status)
                for name in ("Content-Type", "X-Model-Version"):
                    if name in headers:
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
