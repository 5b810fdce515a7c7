"""The scoring service against its published contract, scoring/openapi.yaml.

The real server (gunicorn, 2 workers, on 127.0.0.1) serves the document it is held to, and
schemathesis drives it with requests generated from that document: examples, boundary and
negative cases (coverage) and random ones (fuzzing). No response may be a 5xx, and every
response must match the document: status code, content type, headers and body schema.
The run is bounded and reproducible: deterministic generation (the same cases every run),
at most `MAX_EXAMPLES` cases per operation and phase, one client worker, a request timeout
and a timeout for the whole run; with schemathesis 4.32.5 that is 529 requests in about
20 seconds.
gunicorn's own rejections are checked by hand, with raw sockets, as no HTTP client sends
them.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from scoring import api

OPENAPI = Path(api.__file__).with_name(api.OPENAPI_FILE)
MAX_EXAMPLES = 200
MIN_CASES = 400
# Checks that hold for every request the document allows or forbids. Left out:
# positive_data_acceptance (a valid k can exceed this server's MAX_K, a valid id can be
# unknown) and the checks about authentication and resources, which the service has none of.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
)


def test_the_server_serves_the_document_kept_in_the_repository(server):
    as_yaml = server.get("/openapi.yaml")
    assert as_yaml.status_code == 200
    assert as_yaml.text == OPENAPI.read_text(encoding="utf-8")
    as_json = server.get("/openapi.json")
    assert as_json.headers["Content-Type"] == "application/json"
    assert as_json.json() == yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


def test_every_route_of_the_app_is_in_the_document(server):
    from scoring.app import create_app

    class _State:
        settings = type("S", (), {"max_body_bytes": 1024})()
        version = "v1"

    rules = {
        rule.rule.replace("<user_id>", "{user_id}")
        for rule in create_app(_State()).url_map.iter_rules()  # type: ignore[arg-type]
        if rule.endpoint != "static"
    }
    assert rules == set(yaml.safe_load(OPENAPI.read_text())["paths"])


def _raw(server, request: bytes) -> tuple[int, dict[str, str], dict]:
    """Send raw bytes, read the whole answer (gunicorn closes the connection)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(
    ("request_bytes", "status", "fragment"),
    [
        (b"GET /recommendations/" + b"u" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "4094"),
        (
            b"GET /ping HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(120)) + b"\r\n",
            431,
            "100 header fields",
        ),
        (b"GET /ping HTTP/1.1\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431, "8190 bytes"),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "not valid HTTP"),
    ],
    ids=["request-line-too-long", "too-many-headers", "header-too-large", "malformed"],
)
def test_gunicorn_rejections_answer_in_the_json_error_shape(
    server, request_bytes, status, fragment
):
    got, headers, body = _raw(server, request_bytes)
    assert (got, body["status"]) == (status, status)
    assert fragment in body["error"]
    assert set(body) == {"error", "status"}
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Model-Version"]


def test_schemathesis_finds_no_server_error_and_no_response_outside_the_document(server, tmp_path):
    report = tmp_path / "report.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        str(OPENAPI),
        "--url",
        server.url,
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )
    (tmp_path / "schemathesis.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    # 529 cases with schemathesis 4.32.5 and MAX_EXAMPLES=200 (deterministic); a much
    # smaller number means the document stopped describing most of the API.
    assert cases["generated"] >= MIN_CASES, cases
    assert (cases["with_failures"], cases["errored"], summary["errors"]) == (0, 0, [])
    assert summary["operations"]["tested"] == len(yaml.safe_load(OPENAPI.read_text())["paths"])
    # Reachable only if the server still answers: the run did not take it down.
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
