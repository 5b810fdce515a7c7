"""gunicorn's own rejections (request line too long, headers too large, malformed HTTP) in
the service's JSON error shape.

gunicorn answers these before the app sees the request, with a small HTML page. Clients and
the OpenAPI document expect `{"error", "status"}` and `X-Model-Version` on every response,
so `install` replaces the one function gunicorn writes those answers with. gunicorn has no
hook for this; `tests/scoring/test_contract.py` sends each kind of rejection to a real
server, so an upgrade that moves the function fails a test instead of going unnoticed.
"""

import orjson
from gunicorn import util

from scoring.api import error_body

# What to tell the client, by the status gunicorn chose; gunicorn's own text is kept after it.
_MESSAGES = {
    400: "the request is not valid HTTP/1.1",
    414: "the request line is too long (at most {line} bytes); send shorter ids",
    431: (
        "the request headers are too large: at most {fields} header fields of "
        "{field_size} bytes each"
    ),
}


def json_error(status: int, reason: str, detail: str, version: str, limits: dict) -> bytes:
    """A complete HTTP/1.1 error response with a JSON body, closing the connection."""
    message = _MESSAGES.get(status, reason.lower()).format(**limits)
    if detail:
        message = f"{message} ({detail})"
    body, _ = error_body(status, message)
    payload = orjson.dumps(body)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"X-Model-Version: {version}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + payload


def install(version: str, *, line: int, fields: int, field_size: int) -> None:
    """Make gunicorn write its rejections as JSON naming `version` (call in gunicorn's config)."""
    limits = {"line": line, "fields": fields, "field_size": field_size}
    # The version goes into a header line: keep it to one line of header-safe text.
    safe_version = "".join(c for c in version if c.isprintable() and c.isascii()) or "unknown"

    def write_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
        util.write_nonblock(sock, json_error(status_int, reason, mesg, safe_version, limits))

    util.write_error = write_error
