"""The real server (`python -m scoring`, gunicorn, 2 workers) answering every endpoint."""

import contextlib
import json
import re

import numpy as np
import pytest
import requests

from scoring import model

VERSION_HEADER = "X-Model-Version"


@pytest.fixture(scope="module")
def loaded(model_uri):
    return model.load(model_uri)


@pytest.fixture(scope="module")
def version(loaded):
    return loaded.version


def assert_error(response, status, *fragments, version=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == status
    for fragment in fragments:
        assert fragment in body["error"]
    assert "Traceback" not in response.text
    if version is not None:
        assert response.headers[VERSION_HEADER] == version


def test_ping_healthz_and_readyz_answer_with_the_version(server, version):
    for path, body in [
        ("/ping", {"status": "ok"}),
        ("/healthz", {"status": "alive", "version": version}),
        ("/readyz", {"status": "ready", "version": version}),
    ]:
        response = server.get(path)
        answer = response.json()
        answer.pop("worker", None)
        assert (response.status_code, answer) == (200, body)
        assert response.headers[VERSION_HEADER] == version


def test_model_returns_the_manifest_provenance_and_metrics(server, version, loaded):
    response = server.get("/model")
    assert response.status_code == 200
    manifest = response.json()["manifest"]
    assert manifest["versionId"] == version
    assert manifest["buildNumber"] == "20261127.5"
    assert manifest["metrics"] == loaded.manifest["metrics"]
    assert "provenance" in manifest


def test_recommendations_are_the_unseen_top_k_with_scores(server, version, loaded):
    user = loaded.user_ids[3]
    response = server.get(f"/recommendations/{user}", params={"k": "5"})
    assert response.status_code == 200
    body = response.json()
    assert (body["user_id"], body["version"], body["k"], body["fallback"]) == (
        user,
        version,
        5,
        None,
    )
    top = loaded.recommender.recommend(3, 5)
    assert [i["item_id"] for i in body["items"]] == [loaded.item_ids[i] for i in top.items]
    np.testing.assert_allclose([i["score"] for i in body["items"]], top.scores, rtol=1e-6)
    seen = {loaded.item_ids[i] for i in loaded.recommender.seen(3)}
    assert not seen & {i["item_id"] for i in body["items"]}


# `k=3` takes the server's shortcut past Werkzeug's query parser; the others go through it.
@pytest.mark.parametrize("query", ["k=3", "k=%33", "k=3&", "&k=3"])
def test_every_spelling_of_k_gets_the_same_answer(server, loaded, query):
    response = server.get(f"/recommendations/{loaded.user_ids[2]}?{query}")
    assert response.status_code == 200, response.text
    top = loaded.recommender.recommend(2, 3)
    assert [i["item_id"] for i in response.json()["items"]] == [
        loaded.item_ids[i] for i in top.items
    ]


def test_default_k_is_10(server, loaded):
    assert len(server.get(f"/recommendations/{loaded.user_ids[0]}").json()["items"]) == 10


def test_served_rankings_match_lightfm_for_every_user(server, loaded, lightfm_twin):
    session = requests.Session()
    for user, user_id in enumerate(loaded.user_ids):
        body = session.get(f"{server.url}/recommendations/{user_id}?k=10", timeout=10).json()
        served = np.array([loaded.item_index[i["item_id"]] for i in body["items"]])
        theirs, scores = lightfm_twin.top_k(user, 10)
        np.testing.assert_allclose(scores[served], scores[theirs], rtol=0, atol=1e-5)


def test_unknown_users_get_the_popularity_fallback_marked_as_such(server, loaded):
    response = server.get("/recommendations/someone-new", params={"k": "3"})
    assert response.status_code == 200
    body = response.json()
    assert body["fallback"] == "popularity"
    expected = [loaded.item_ids[i] for i in loaded.recommender.popular(3).items]
    assert [i["item_id"] for i in body["items"]] == expected


def test_scores_answers_pairs_in_request_order(server, version, loaded):
    pairs = [
        {"user_id": loaded.user_ids[1], "item_id": loaded.item_ids[7]},
        {"user_id": loaded.user_ids[0], "item_id": loaded.item_ids[2]},
    ]
    response = server.post("/scores", json={"pairs": pairs})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == version
    assert [(s["user_id"], s["item_id"]) for s in body["scores"]] == [
        (p["user_id"], p["item_id"]) for p in pairs
    ]
    expected = loaded.recommender.score_pairs(np.array([1, 0]), np.array([7, 2]))
    np.testing.assert_allclose([s["score"] for s in body["scores"]], expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("path", "fragments"),
    [
        ("/recommendations/u0001?k=0", ["k=0 is out of range; use k=1..50"]),
        ("/recommendations/u0001?k=51", ["k=51 is out of range; use k=1..50"]),
        ("/recommendations/u0001?k=abc", ["is not a whole number"]),
        ("/recommendations/u0001?count=3", ["unknown query parameter(s) count"]),
        ("/recommendations/%FF%FE", ["not valid UTF-8"]),
        ("/recommendations/", ["no endpoint at /recommendations/"]),
    ],
)
def test_bad_recommendation_requests_are_4xx_json(server, version, path, fragments):
    status = 404 if path.endswith("/") else 400
    assert_error(server.get(path), status, *fragments, version=version)


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragments"),
    [
        (b'{"pairs": [', None, 400, ["not valid JSON", "line 1 column 12"]),
        (b'{"pairs": "\xff"}', None, 400, ["not valid UTF-8"]),
        (b'{"pairs": {"user_id": "u1"}}', None, 400, ["'pairs' must be a list, found dict"]),
        (b'{"pairs": [{"user_id": 1.5, "item_id": "i1"}]}', None, 400, ["found float"]),
        (b'{"pairs": [["u0001", "i0001"]]}', None, 400, ["pairs[0] must be an object"]),
        (
            json.dumps({"pairs": [{"user_id": "u0001", "item_id": "i0001"}] * 21}).encode(),
            None,
            400,
            ["too many pairs: 21; send at most 20"],
        ),
        (b'{"pairs": []}', {"Content-Type": "text/plain"}, 415, ["application/json"]),
        (b"x" * 70_000, None, 413, ["larger than 65536 bytes (MAX_BODY_BYTES)"]),
    ],
)
def test_bad_score_requests_are_4xx_json(server, version, body, headers, status, fragments):
    headers = headers or {"Content-Type": "application/json"}
    response = server.post("/scores", data=body, headers=headers)
    assert_error(response, status, *fragments, version=version)


def test_an_oversized_chunked_body_is_413_not_truncated(server, version):
    def chunks():
        for _ in range(10):
            yield b" " * 10_000  # valid JSON whitespace: a cut body would parse as empty

    response = server.post("/scores", data=chunks(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "MAX_BODY_BYTES", version=version)


def test_a_chunked_body_within_the_limit_is_scored(server, loaded):
    def chunks():
        yield b'{"pairs": [{"user_id": "%s", ' % loaded.user_ids[0].encode()
        yield b'"item_id": "%s"}]}' % loaded.item_ids[0].encode()

    response = server.post("/scores", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert len(response.json()["scores"]) == 1


def test_unknown_ids_in_a_batch_are_422_naming_them(server, version, loaded):
    pairs = [
        {"user_id": loaded.user_ids[0], "item_id": "no-such-item"},
        {"user_id": "no-such-user", "item_id": loaded.item_ids[0]},
    ]
    response = server.post("/scores", json={"pairs": pairs})
    assert_error(response, 422, "unknown user_id 'no-such-user'", "unknown item_id 'no-such-item'")


def test_wrong_methods_and_paths_are_json_too(server, version):
    assert_error(server.post("/ping"), 405, "POST is not allowed on /ping", version=version)
    assert_error(server.get("/scores"), 405, "GET is not allowed", version=version)
    assert_error(server.get("/nowhere"), 404, "no endpoint at /nowhere", version=version)


def _count(text: str, endpoint: str, status: str, version: str) -> float:
    pattern = (
        r"scoring_requests_total\{"
        rf'endpoint="{re.escape(endpoint)}",method="GET",'
        rf'model_version="{re.escape(version)}",status="{status}"\}} (\S+)'
    )
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_metrics_aggregate_all_workers_by_version_endpoint_and_status(server, version):
    before = server.get("/metrics").text
    for _ in range(30):
        server.get("/ping")  # each on a new connection, so both workers answer some
    server.get("/recommendations/u0001", params={"k": "0"})
    response = server.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers[VERSION_HEADER] == version
    text = response.text
    assert _count(text, "/ping", "200", version) - _count(before, "/ping", "200", version) == 30
    assert f'scoring_model_ready{{model_version="{version}"}} 1.0' in text
    assert re.search(
        r'scoring_request_errors_total\{endpoint="/recommendations/<user_id>",'
        rf'model_version="{re.escape(version)}",status="400"\}} [1-9]',
        text,
    )
    assert re.search(
        r'scoring_request_duration_seconds_bucket\{endpoint="/ping",le="0.005",'
        rf'model_version="{re.escape(version)}"\}} [1-9]',
        text,
    )


def _sample(text: str, name: str, version: str, extra: str = "") -> float:
    labels = rf'\{{{extra}model_version="{re.escape(version)}"\}}'
    match = re.search(rf"^{name}{labels} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_fallbacks_and_top_scores_by_version(server, version, loaded):
    known = loaded.user_ids[0]
    before = server.get("/metrics").text
    for _ in range(3):
        assert server.get(f"/recommendations/{known}").json()["fallback"] is None
    assert server.get("/recommendations/nobody-knows-me").json()["fallback"] == "popularity"
    text = server.get("/metrics").text

    def delta(name, extra=""):
        return _sample(text, name, version, extra) - _sample(before, name, version, extra)

    assert delta("scoring_recommendations_total", 'fallback="none",') == 3
    assert delta("scoring_recommendations_total", 'fallback="popularity",') == 1
    # Only personalised answers have a meaningful best score; the popularity list has none.
    assert delta("scoring_top_score_count") == 3
    best = server.get(f"/recommendations/{known}").json()["items"][0]["score"]
    assert delta("scoring_top_score_sum") == pytest.approx(3 * best, rel=1e-4)


def test_a_busy_connection_does_not_hold_its_worker_from_the_others(model_uri, start_server):
    """One worker, two keep-alive connections: the first sends 300 pipelined requests at
    once, the second one request right after. The second is answered after a few of the
    first's, not after all of them (each answer yields to the worker's other connections)."""
    import socket

    server = start_server(model_uri, WORKERS="1")
    server.wait_for("/readyz", 200)
    host, port = "127.0.0.1", server.port
    busy, other = socket.create_connection((host, port)), socket.create_connection((host, port))
    try:
        request = f"GET /recommendations/u0001?k=10 HTTP/1.1\r\nHost: {host}\r\n\r\n"
        busy.sendall(request.encode() * 300)
        other.sendall(request.encode())
        other.settimeout(30)
        assert other.recv(4096).startswith(b"HTTP/1.1 200")
        # What the busy connection got by then: a few answers, not all 300.
        busy.setblocking(False)
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := busy.recv(1 << 20):
                data += chunk
        assert data.count(b"HTTP/1.1 200") < 150
    finally:
        busy.close()
        other.close()
