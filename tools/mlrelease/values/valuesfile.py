"""Set keys in a Helm values file without breaking it (the "YamlWriter", done right).

`--set` strings break on commas and turn a build number such as `20261127.3` into a float.
Here each assignment is `KEY.PATH=VALUE`: the path deep-creates maps, `[N]` addresses a
list item, and the value is read as a YAML scalar with one deliberate exception: text that
YAML would read as a float stays a string unless tagged `!!float`, because in a values file
a dotted number is far more often a version than a quantity.
"""

import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from mlrelease.errors import InputError, check_printable
from mlrelease.values import yamlio

_DOT = re.compile(r"(?<!\\)\.")
_PIECE = re.compile(r"(?P<key>(?:\\.|[^\[\]\\])*)(?P<indexes>(?:\[\d+\])*)")
_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]*)")


def parse_path(path: str) -> list[str | int]:
    """`a.b[0].c` -> ['a', 'b', 0, 'c']; `\\.` escapes a dot inside a key."""
    parts: list[str | int] = []
    for piece in _DOT.split(path):
        match = _PIECE.fullmatch(piece)
        if not piece or not match:
            raise InputError(
                f"cannot read key path {path!r} near {piece!r}: use dotted keys and [N] for "
                "list items, e.g. image.tag or versions[0].weight"
            )
        if match.group("key"):
            parts.append(match.group("key").replace("\\.", "."))
        parts.extend(int(index) for index in re.findall(r"\d+", match.group("indexes")))
    return parts


def parse_value(text: str, *, as_string: bool = False) -> Any:
    """Read VALUE as a YAML scalar, keeping floats and non-canonical integers as text."""
    if as_string or text == "":
        return text
    parsed = yamlio.loads(text, source=f"value {text!r}")
    explicit_float = text.lstrip().startswith("!!float")
    if isinstance(parsed, float) and not explicit_float:
        return text
    if isinstance(parsed, int) and not isinstance(parsed, bool):
        return parsed if _CANONICAL_INT.fullmatch(text.strip()) else text
    return parsed


def parse_assignment(assignment: str, *, as_string: bool = False) -> tuple[list[str | int], Any]:
    """`KEY.PATH=VALUE` -> (path, value); InputError says how to write it when malformed."""
    key, separator, value = assignment.partition("=")
    if not separator or not key.strip():
        raise InputError(
            f"{assignment!r} is not KEY=VALUE; write e.g. image.tag=20261127.3 "
            "(quote the whole argument in the shell if VALUE has spaces)"
        )
    parsed = parse_value(value, as_string=as_string)
    _check_printable_strings(parsed, key.strip())
    return parse_path(key.strip()), parsed


def _check_printable_strings(value: Any, key: str) -> None:
    """YAML escapes ("a\\nb") can smuggle control characters past the argument check."""
    if isinstance(value, str):
        check_printable(value, f"the value of {key}")
    elif isinstance(value, dict):
        for item_key, item in value.items():
            _check_printable_strings(str(item_key), key)
            _check_printable_strings(item, key)
    elif isinstance(value, list):
        for item in value:
            _check_printable_strings(item, key)


def set_value(document: Any, path: list[str | int], value: Any) -> Any:
    """Set `value` at `path` in a round-trip document, creating maps and lists on the way.

    Returns the (possibly new) document root.
    """
    root = document if document is not None else _container_for(path[0])
    node = root
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = _render_path(path[: depth + 1])
        _check_container(node, part, _render_path(path[:depth]))
        if last:
            _assign(node, part, value)
        else:
            child = _get(node, part)
            if child is None:
                child = _container_for(path[depth + 1])
                _assign(node, part, child)
            elif not isinstance(child, dict | list):
                raise InputError(
                    f"{where} holds the value {child!r}, not a map or list; "
                    f"set {where} itself or remove it first"
                )
            node = child
    return root


def set_values(document: Any, assignments: list[tuple[list[str | int], Any]]) -> Any:
    """Apply several assignments in order; returns the document root."""
    for path, value in assignments:
        document = set_value(document, path, value)
    return document


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's `-f a -f b` merge: maps merge key by key, anything else is replaced."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def _container_for(part: str | int) -> CommentedMap | CommentedSeq:
    return CommentedSeq() if isinstance(part, int) else CommentedMap()


def _check_container(node: Any, part: str | int, where: str) -> None:
    where = where or "the document root"
    if isinstance(part, int) and not isinstance(node, list):
        raise InputError(f"{where} is not a list, so [{part}] cannot address it")
    if isinstance(part, str) and not isinstance(node, dict):
        raise InputError(f"{where} is a list; address its items with [N], not .{part}")
    if isinstance(part, int) and part > len(node):
        raise InputError(
            f"{where} has {len(node)} items; [{part}] would leave a gap "
            f"(use [{len(node)}] to append)"
        )


def _get(node: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return node[part] if part < len(node) else None
    return node.get(part)


def _assign(node: Any, part: str | int, value: Any) -> None:
    value = _keep_quote_style(_get(node, part), value)
    if isinstance(part, int) and part == len(node):
        node.append(value)
    else:
        node[part] = value


def _keep_quote_style(old: Any, new: Any) -> Any:
    """A string replacing a quoted string keeps its quotes, so the diff is the value only."""
    if isinstance(new, str):
        for style in (DoubleQuotedScalarString, SingleQuotedScalarString):
            if isinstance(old, style):
                return style(new)
    return new


def _render_path(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def numbers_where_schema_says(value: Any, schema: dict[str, Any] | None) -> Any:
    """Turn strings into numbers where a JSON schema types the key as a number.

    Values read by `parse_value` keep `0.05` as text; when the chart's schema says the key
    is a number (and never a string), the text is clearly a quantity, so it becomes one.
    Anything that does not parse stays as it is, for the schema check to report.
    """
    if not schema:
        return value
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {
            key: numbers_where_schema_says(item, properties.get(key)) for key, item in value.items()
        }
    if isinstance(value, list):
        return [numbers_where_schema_says(item, schema.get("items")) for item in value]
    if isinstance(value, str) and "number" in types and "string" not in types:
        try:
            return float(value)
        except ValueError:
            return value
    return value
