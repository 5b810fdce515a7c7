"""Reading, checking and writing the routing document that `mlrelease traffic` edits.

The routing values file is the single source of truth for traffic: a command reads the
current file, changes only the traffic keys and writes the next file, so other keys the
routing chart reads (gateway, ports, ...) and their comments pass through untouched.
"""

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema

from mlrelease.errors import InputError
from mlrelease.traffic import operations
from mlrelease.traffic.schema import TRAFFIC_KEYS, TRAFFIC_SCHEMA
from mlrelease.values import yamlio
from mlrelease.versions import is_version_id


def check(document: Any, source: str) -> operations.Document:
    """Return the traffic part of `document` as plain data, or raise InputError saying why."""
    # default=str: YAML dates and other tagged scalars become text for the schema to judge.
    plain = json.loads(json.dumps(document, default=str)) if document is not None else None
    if not isinstance(plain, dict):
        raise InputError(f"{source} is not a YAML mapping; it should hold host: and versions:")
    # best_match looks inside anyOf/oneOf for the error that says what is wrong.
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft7Validator(TRAFFIC_SCHEMA).iter_errors(plain)
    )
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "the top level"
        raise InputError(f"{source}: {where}: {error.message}")
    # The chart reads an empty or null mirror as no mirror; so does the traffic document.
    doc = {key: plain[key] for key in TRAFFIC_KEYS if plain.get(key) not in (None, {})}
    doc.setdefault("abRules", [])
    names = [entry["name"] for entry in doc["versions"]]
    for name in names:
        if not is_version_id(name):
            raise InputError(f"{source}: versions: {name!r} is not a valid version id")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"{source}: versions: {', '.join(duplicates)} listed more than once")
    total = sum(entry["weight"] for entry in doc["versions"])
    if names and total != 100:
        raise InputError(f"{source}: versions: weights sum to {total}, not 100")
    try:
        operations.check_host(doc["host"])
        for rule in doc["abRules"]:
            operations.check_header_name(rule["header"])
            if "regex" in rule:
                operations.check_regex(rule["regex"])
        operations.check_references(doc)
    except InputError as error:
        raise InputError(f"{source}: {error}") from error
    return doc


def load(path: Path | None, host: str | None = None) -> tuple[Any, operations.Document]:
    """(round-trip document, checked traffic document) for `--current`, or a new one."""
    if path is None:
        return None, operations.new_document(operations.DEFAULT_HOST if host is None else host)
    document = yamlio.load_path(path)
    doc = check(document, str(path))
    if host is not None:
        doc["host"] = operations.check_host(host)
    return document, doc


def render(original: Any, doc: operations.Document, provenance: dict[str, Any] | None) -> str:
    """The next routing values file: `original` with the traffic keys (and provenance) replaced.

    `original` is left as it was: the result is a shallow copy (comments and key order kept).
    """
    check(doc, "the new routing document")
    result = copy.copy(original) if original is not None else {}
    for key in TRAFFIC_KEYS:
        if key in doc:
            result[key] = doc[key]
        elif key in result:
            del result[key]
    if provenance:
        result["provenance"] = provenance
    return yamlio.dumps(result)
