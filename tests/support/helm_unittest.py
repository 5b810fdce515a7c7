"""Runs helm-unittest suites (`charts/*/tests/*_test.yaml`) on the embedded Helm engine.

The Azure pipeline runs the same suites with the real helm-unittest plugin; this runner lets
them run here, where the plugin cannot. It implements only the assertion types the suites use,
with the semantics helm-unittest documents (DOCUMENT.md and its validators); any other
assertion type or option is an error, never a pass.
"""

import fnmatch
import re
from pathlib import Path
from typing import Any

import helm_python
import yaml

from mlrelease.values.valuesfile import merge

DEFAULT_RELEASE = {"name": "RELEASE-NAME", "namespace": "NAMESPACE"}
_PATH_TOKEN = re.compile(r"""\.?([^.\[\]]+)|\[(\d+)\]|\[["']([^"']+)["']\]""")


class UnsupportedError(Exception):
    """The suite uses something this runner does not implement."""


def load_suite(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def _set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    # helm-unittest `set` keys use --set paths; a '\.' keeps a dot inside a key.
    parts = [p.replace("\0", ".") for p in dotted.replace("\\.", "\0").split(".")]
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _values(suite_path: Path, suite: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for source in (suite, test):
        for name in source.get("values", []):
            with (suite_path.parent / name).open(encoding="utf-8") as stream:
                values = merge(values, yaml.safe_load(stream) or {})
    for source in (suite, test):
        overrides: dict[str, Any] = {}
        for key, value in (source.get("set") or {}).items():
            _set_path(overrides, key, value)
        values = merge(values, overrides)
    return values


def get_values(document: Any, path: str) -> list[Any]:
    """Values at a helm-unittest path (`a.b[0]["x.y"]`); [] when the path does not exist."""
    node = document
    position = 0
    for match in _PATH_TOKEN.finditer(path):
        if match.start() != position:
            raise UnsupportedError(f"path syntax not supported: {path!r}")
        position = match.end()
        key, index, quoted = match.groups()
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                return []
            node = node[int(index)]
        else:
            name = key if key is not None else quoted
            if not isinstance(node, dict) or name not in node:
                return []
            node = node[name]
    if position != len(path):
        raise UnsupportedError(f"path syntax not supported: {path!r}")
    return [node]


def _template_matches(pattern: str, template_path: str) -> bool:
    # Rendered keys are `<chart>/templates/<file>`; suites may omit `templates/`.
    relative = template_path.split("/", 1)[1]
    pattern = pattern if pattern.startswith("templates/") else f"templates/{pattern}"
    return fnmatch.fnmatchcase(relative, pattern)


def _documents(rendered: dict[str, str], patterns: list[str]) -> list[dict[str, Any]]:
    docs = []
    for template_path in sorted(rendered):
        if not any(_template_matches(p, template_path) for p in patterns):
            continue
        if not template_path.endswith((".yaml", ".yml")):
            continue
        docs.extend(d for d in yaml.safe_load_all(rendered[template_path]) if d is not None)
    return docs


def _subset(actual: Any, content: Any) -> bool:
    # helm-unittest's validateSubset: every top-level key of content deep-equals actual's.
    return (
        isinstance(actual, dict)
        and isinstance(content, dict)
        and all(key in actual and actual[key] == value for key, value in content.items())
    )


def _human_error(error: Exception) -> str:
    # helm-unittest matches errorMessage against the message a template `fail` produced,
    # without Helm's "execution error at (<template>:<line>:<col>): " prefix.
    message = str(error).strip()
    match = re.search(r"execution error at \([^)]*\): (.*)", message, re.DOTALL)
    return match.group(1).strip() if match else message


def _per_document(docs, negative, check) -> tuple[bool, str]:
    """Every selected document must pass `check` (or fail it, with `not`)."""
    if not docs:
        return negative, "no manifest found"
    for index, doc in enumerate(docs):
        ok, why = check(doc)
        if ok == negative:
            return False, f"document {index}: {why}"
    return True, ""


def _check_path(params: dict[str, Any], compare) -> Any:
    path = params["path"]

    def check(doc):
        found = get_values(doc, path)
        if not found:
            return False, f"unknown path {path}"
        return compare(found[0])

    return check


def evaluate(assertion: dict[str, Any], docs: list[Any], render_error: Exception | None):
    """(passed, message) for one assertion over the selected documents."""
    options = {"not", "template", "documentIndex"}
    kinds = [key for key in assertion if key not in options]
    if len(kinds) != 1:
        raise UnsupportedError(f"an assertion needs exactly one type, got {kinds}")
    kind = kinds[0]
    params = assertion[kind] or {}
    negative = bool(assertion.get("not", False))
    if kind in ("failedTemplate", "notFailedTemplate"):
        if kind == "notFailedTemplate":
            negative = not negative
        if render_error is None:
            return negative, "the chart rendered without error"
        if "errorPattern" in params:
            matched = re.search(params["errorPattern"], str(render_error)) is not None
        elif "errorMessage" in params:
            matched = params["errorMessage"] == _human_error(render_error)
        else:
            matched = True
        return matched != negative, f"render error: {render_error}"
    if render_error is not None:
        return False, f"rendering failed: {render_error}"
    if "documentIndex" in assertion:
        index = assertion["documentIndex"]
        docs = [docs[index]] if 0 <= index < len(docs) else []
    if kind == "hasDocuments":
        return (len(docs) == params["count"]) != negative, f"{len(docs)} documents"
    if kind == "isKind":
        return _per_document(
            docs, negative, lambda d: (d.get("kind") == params["of"], d.get("kind"))
        )
    if kind == "isAPIVersion":
        return _per_document(
            docs, negative, lambda d: (d.get("apiVersion") == params["of"], d.get("apiVersion"))
        )
    if kind in ("equal", "notEqual"):
        negative ^= kind == "notEqual"
        check = _check_path(params, lambda v: (v == params["value"], f"got {v!r}"))
        return _per_document(docs, negative, check)
    if kind in ("exists", "notExists"):
        negative ^= kind == "notExists"
        if not docs:
            return False, "no manifest found"
        for index, doc in enumerate(docs):
            if bool(get_values(doc, params["path"])) == negative:
                return False, f"document {index}: path {params['path']} exists={not negative}"
        return True, ""
    if kind in ("matchRegex", "notMatchRegex"):
        negative ^= kind == "notMatchRegex"

        def regex(value):
            if not isinstance(value, str):
                return negative, f"expected a string, got {value!r}"
            return re.search(params["pattern"], value) is not None, f"got {value!r}"

        return _per_document(docs, negative, _check_path(params, regex))
    if kind in ("contains", "notContains"):
        negative ^= kind == "notContains"
        any_ = params.get("any", False)

        def contains(value):
            if not isinstance(value, list):
                return negative, f"expected an array, got {value!r}"
            count = sum(
                1
                for item in value
                if (_subset(item, params["content"]) if any_ else item == params["content"])
            )
            if "count" in params and count > 0:
                return count == params["count"], f"found {count} times in {value!r}"
            return count > 0, f"not found in {value!r}"

        return _per_document(docs, negative, _check_path(params, contains))
    if kind in ("isSubset", "isNotSubset"):
        negative ^= kind == "isNotSubset"
        check = _check_path(params, lambda v: (_subset(v, params["content"]), f"got {v!r}"))
        return _per_document(docs, negative, check)
    if kind == "lengthEqual":
        if "paths" in params or "count" not in params:
            raise UnsupportedError("lengthEqual is implemented for `path` with `count` only")

        def length(value):
            return isinstance(value, list) and len(value) == params["count"], f"got {value!r}"

        return _per_document(docs, negative, _check_path(params, length))
    raise UnsupportedError(f"assertion type {kind!r} is not implemented by this runner")


_SUITE_KEYS = {"suite", "templates", "tests", "release", "values", "set"}
_TEST_KEYS = {"it", "asserts", "set", "values", "release", "template", "templates", "documentIndex"}


def run_test(
    chart_dir: Path, suite_path: Path, suite: dict[str, Any], test: dict[str, Any]
) -> None:
    """Render the chart for one test job and raise AssertionError on the first failed assertion."""
    for keys, known, where in ((suite, _SUITE_KEYS, "suite"), (test, _TEST_KEYS, "test")):
        unknown = set(keys) - known
        if unknown:
            raise UnsupportedError(
                f"{where} options not implemented by this runner: {sorted(unknown)}"
            )
    release = {**DEFAULT_RELEASE, **(suite.get("release") or {}), **(test.get("release") or {})}
    values = _values(suite_path, suite, test)
    chart = helm_python.Chart.load(chart_dir)
    render_error = None
    rendered: dict[str, str] = {}
    try:
        rendered = chart.render(
            values, name=release["name"], namespace=release["namespace"], is_install=True
        )
    except helm_python.HelmError as error:
        render_error = error
    default_templates = (
        [test["template"]]
        if "template" in test
        else test.get("templates") or suite.get("templates") or []
    )
    for number, assertion in enumerate(test["asserts"]):
        templates = [assertion["template"]] if "template" in assertion else default_templates
        if not templates and render_error is None:
            raise UnsupportedError("no template selected for an assertion (set `templates`)")
        docs = _documents(rendered, templates)
        if "documentIndex" in test and "documentIndex" not in assertion:
            assertion = {**assertion, "documentIndex": test["documentIndex"]}
        passed, message = evaluate(assertion, docs, render_error)
        if not passed:
            raise AssertionError(f"{test.get('it')}: assertion {number} {assertion}: {message}")
