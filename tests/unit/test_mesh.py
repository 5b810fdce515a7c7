"""The rehearsal's Istio stand-in decides routes the way Istio's documented semantics say."""

import random
from collections import Counter

import pytest

from mlrelease.errors import MlreleaseError
from mlrelease.rehearsal.mesh import Mesh

DESTINATION_RULE = {
    "spec": {
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"}},
        ]
    }
}


def virtual_service(*routes):
    return {"spec": {"http": list(routes)}}


def dest(subset, weight=None):
    destination = {"destination": {"host": "scoring", "subset": subset}}
    if weight is not None:
        destination["weight"] = weight
    return destination


SPLIT = {"name": "split", "route": [dest("v1", 75), dest("v2", 25)]}
BETA = {
    "name": "beta",
    "match": [{"headers": {"x-user-group": {"exact": "beta"}}}],
    "route": [dest("v2")],
}
GOLD = {
    "match": [
        {"headers": {"x-tier": {"prefix": "gold"}}},
        {"headers": {"x-vip": {"regex": "y.*"}}},
    ],
    "route": [dest("v1")],
}


@pytest.mark.parametrize(
    ("headers", "version"),
    [
        ({"x-user-group": "beta"}, "v2"),
        ({"X-User-Group": "beta"}, "v2"),
        ({"x-tier": "gold-plus"}, "v1"),
        ({"x-vip": "yes"}, "v1"),
        ({"x-vip": "no"}, None),
        ({"x-user-group": "beta", "x-tier": "gold"}, "v2"),
    ],
)
def test_first_matching_route_wins(headers, version):
    mesh = Mesh(virtual_service(BETA, GOLD, SPLIT), DESTINATION_RULE)
    decision = mesh.decide(headers, random.Random(1))
    if version:
        assert decision.version == version
    else:
        assert decision.route == "split"


def test_weighted_split_follows_weights():
    mesh = Mesh(virtual_service(SPLIT), DESTINATION_RULE)
    rng = random.Random(7)
    counts = Counter(mesh.decide({}, rng).version for _ in range(4000))
    assert abs(counts["v2"] / 4000 - 0.25) < 0.03


def test_mirror_percentage_is_honoured():
    route = {
        **SPLIT,
        "mirror": {"host": "scoring", "subset": "v2"},
        "mirrorPercentage": {"value": 20},
    }
    mesh = Mesh(virtual_service(route), DESTINATION_RULE)
    rng = random.Random(3)
    mirrored = sum(mesh.decide({}, rng).mirror == "v2" for _ in range(4000))
    assert abs(mirrored / 4000 - 0.20) < 0.03


def test_unrehearsed_route_features_are_refused():
    with pytest.raises(MlreleaseError, match="rewrite"):
        Mesh(virtual_service({**SPLIT, "rewrite": {"uri": "/"}}), DESTINATION_RULE)


def test_no_matching_route_is_an_error_like_istio_404():
    mesh = Mesh(virtual_service(BETA), DESTINATION_RULE)
    with pytest.raises(MlreleaseError, match="404"):
        mesh.decide({}, random.Random(0))


def test_the_proxy_routes_and_reports_istio_standard_metrics():
    """Requests through the stand-in's proxy are counted as Istio's server side reports them."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    from mlrelease.rehearsal.mesh import METRICS_PATH, MeshProxy

    class Upstream(BaseHTTPRequestHandler):
        def do_GET(self):
            status = 503 if "fail" in self.path else 200
            self.send_response(status)
            self.send_header("X-Model-Version", self.server.version)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    upstreams, servers = {}, []
    for version in ("v1", "v2"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        server.version = version
        threading.Thread(target=server.serve_forever, daemon=True).start()
        upstreams[version], servers = server.server_address[1], [*servers, server]
    proxy = MeshProxy("scoring", "ml", upstreams).start()
    try:
        before = requests.get(f"http://127.0.0.1:{proxy.port}{METRICS_PATH}", timeout=5).text
        assert 'workload="scoring-v2",reporter="destination",response_code="200"} 0.0' in before
        proxy.route(Mesh(virtual_service(SPLIT), DESTINATION_RULE))
        with requests.Session() as session:
            answered = Counter(
                session.get(f"http://127.0.0.1:{proxy.port}/x", timeout=5).headers[
                    "X-Model-Version"
                ]
                for _ in range(40)
            )
            assert session.get(f"http://127.0.0.1:{proxy.port}/fail", timeout=5).status_code == 503
        text = requests.get(f"http://127.0.0.1:{proxy.port}{METRICS_PATH}", timeout=5).text
        assert sum(answered.values()) == 40 and set(answered) == {"v1", "v2"}
        for version, count in answered.items():
            assert (
                'istio_requests_total{destination_service_name="scoring",'
                'destination_service_namespace="ml",'
                f'destination_version="{version}",destination_workload="scoring-{version}",'
                f'reporter="destination",response_code="200"}} {float(count)}'
            ) in text
        assert 'response_code="503"} 1.0' in text
        assert "istio_request_duration_milliseconds_bucket{" in text
    finally:
        proxy.stop()
        for server in servers:
            server.shutdown()
            server.server_close()
