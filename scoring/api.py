"""Request handling without a web framework: parse, validate, answer.

Each handler takes plain values (the path parameter, the query as a mapping, the raw body)
and returns `(body, status)`; `scoring.app` only moves them in and out of Flask. Parsing and
validation can therefore be tested without a server, and every rejection is a 4xx whose
message says what was wrong and what is accepted; nothing here lets a stack trace out.
"""

import json
import os
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import numpy as np
from ruamel.yaml import YAML

from scoring import metrics
from scoring.state import ServingState

Response = tuple[dict[str, Any], int]

_DIGITS = re.compile(r"[0-9]{1,9}")
_MAX_LISTED = 10


class ApiError(Exception):
    """A request the server will not answer; `status` is the HTTP status to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str) -> Response:
    """The one JSON error shape of the service (the OpenAPI document's `Error`)."""
    return {"error": message, "status": status}, status


OPENAPI_FILE = "openapi.yaml"


def openapi_text() -> str:
    """The OpenAPI document as kept in the repository, shipped inside this package."""
    return resources.files("scoring").joinpath(OPENAPI_FILE).read_text(encoding="utf-8")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document as plain data, for /openapi.json."""
    return YAML(typ="safe", pure=True).load(openapi_text())


def ping() -> Response:
    """A trivial JSON answer: the baseline the benchmarks compare real endpoints with."""
    return {"status": "ok"}, 200


def healthz(state: ServingState) -> Response:
    """Liveness: the process answers; says nothing about the model."""
    return {"status": "alive", "version": state.version, "worker": os.getpid()}, 200


def readyz(state: ServingState) -> Response:
    """Readiness: 200 only once the model is loaded and verified, else 503 with the reason.

    Each gunicorn worker loads its own copy, so the answer names the worker that gave it.
    """
    body = {"status": "ready", "version": state.version, "worker": os.getpid()}
    if state.ready:
        return body, 200
    return {**body, "status": "not ready", "reason": state.reason}, 503


def _require_model(state: ServingState) -> Any:
    loaded = state.model
    if loaded is None:
        raise ApiError(503, f"no model is being served: {state.reason}")
    return loaded


def model_info(state: ServingState) -> Response:
    """The served version's manifest: provenance, data snapshot, hyperparameters, metrics."""
    loaded = _require_model(state)
    return {"version": state.version, "manifest": loaded.manifest}, 200


def parse_k(query: Mapping[str, str], max_k: int, default: int = 10) -> int:
    """The `k` query parameter as an integer in 1..max_k."""
    unknown = sorted(set(query) - {"k"})
    if unknown:
        raise ApiError(400, f"unknown query parameter(s) {', '.join(unknown)}; only k is accepted")
    raw = query.get("k")
    if raw is None:
        return min(default, max_k)
    if not _DIGITS.fullmatch(raw):
        raise ApiError(400, f"k={raw!r} is not a whole number; use k=1..{max_k}")
    k = int(raw)
    if not 1 <= k <= max_k:
        raise ApiError(400, f"k={k} is out of range; use k=1..{max_k}")
    return k


def recommendations(state: ServingState, user_id: str, query: Mapping[str, str]) -> Response:
    """Top-k unseen items for a user; users the model never saw get the most popular items."""
    k = parse_k(query, state.settings.max_k)
    loaded = _require_model(state)
    rec = loaded.recommender
    index = loaded.user_index.get(user_id)
    if index is None:
        top, fallback = rec.popular(k), "popularity"
    else:
        top, fallback = rec.recommend(index, k), None
    metrics.observe_recommendation(state.version, fallback, top.scores[0] if top.scores else None)
    item_ids = loaded.item_ids
    items = [
        {"item_id": item_ids[i], "score": s} for i, s in zip(top.items, top.scores, strict=True)
    ]
    body = {
        "user_id": user_id,
        "version": state.version,
        "k": k,
        "fallback": fallback,
        "items": items,
    }
    return body, 200


def parse_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            400, f"the body is not valid UTF-8 (byte {error.start}); send UTF-8 encoded JSON"
        ) from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ApiError(
            400,
            f"the body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from error
    except RecursionError as error:
        raise ApiError(400, "the body is not valid JSON: nested too deeply") from error


def _id(value: Any, where: str) -> str:
    # Integers are accepted because exported ids are often numeric; they are matched as text.
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ApiError(400, f"{where} must be a string id, found {type(value).__name__}")


def parse_pairs(document: Any, max_pairs: int) -> list[tuple[str, str]]:
    """`{"pairs": [{"user_id": ..., "item_id": ...}, ...]}` as a list of (user, item)."""
    example = '{"pairs": [{"user_id": "42", "item_id": "7"}]}'
    if not isinstance(document, dict) or "pairs" not in document:
        raise ApiError(400, f"expected a JSON object with a 'pairs' list, e.g. {example}")
    pairs = document["pairs"]
    if not isinstance(pairs, list):
        raise ApiError(400, f"'pairs' must be a list, found {type(pairs).__name__}")
    if len(pairs) > max_pairs:
        raise ApiError(400, f"too many pairs: {len(pairs)}; send at most {max_pairs} per request")
    parsed = []
    for n, pair in enumerate(pairs):
        if not isinstance(pair, dict) or "user_id" not in pair or "item_id" not in pair:
            raise ApiError(
                400, f"pairs[{n}] must be an object with 'user_id' and 'item_id', e.g. {example}"
            )
        user = _id(pair["user_id"], f"pairs[{n}].user_id")
        item = _id(pair["item_id"], f"pairs[{n}].item_id")
        parsed.append((user, item))
    return parsed


def _listed(ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_MAX_LISTED])
    more = f" and {len(ids) - _MAX_LISTED} more" if len(ids) > _MAX_LISTED else ""
    return shown + more


def scores(state: ServingState, body: bytes, content_type: str | None) -> Response:
    """Model scores for a batch of (user, item) pairs, in request order."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415,
            f"Content-Type is {content_type or 'missing'}; send Content-Type: application/json",
        )
    pairs = parse_pairs(parse_json(body), state.settings.max_pairs)
    loaded = _require_model(state)
    unknown_users = sorted({u for u, _ in pairs if u not in loaded.user_index})
    unknown_items = sorted({i for _, i in pairs if i not in loaded.item_index})
    if unknown_users or unknown_items:
        problems = []
        if unknown_users:
            problems.append(f"unknown user_id {_listed(unknown_users)}")
        if unknown_items:
            problems.append(f"unknown item_id {_listed(unknown_items)}")
        raise ApiError(422, "; ".join(problems) + f": model {state.version} cannot score them")
    users = np.fromiter((loaded.user_index[u] for u, _ in pairs), dtype=np.intp, count=len(pairs))
    items = np.fromiter((loaded.item_index[i] for _, i in pairs), dtype=np.intp, count=len(pairs))
    values = loaded.recommender.score_pairs(users, items).tolist()
    return {
        "version": state.version,
        "scores": [
            {"user_id": u, "item_id": i, "score": s}
            for (u, i), s in zip(pairs, values, strict=True)
        ],
    }, 200
