"""The embedded Helm engine: load, check, render and package charts without a helm binary.

Wraps `helm_python` (Helm's own Go SDK in-process) so every command renders exactly what
`helm install` would, and turns Helm's errors into MlreleaseError/InputError that keep
Helm's own message (it names the key or template line that is wrong).
"""

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import helm_python
from ruamel.yaml import YAML

from mlrelease.errors import InputError, MlreleaseError
from mlrelease.values.valuesfile import merge as merge_values

# Errors caused by the chart or values the user passed, not by this machine.
_INPUT_ERRORS = (
    helm_python.HelmChartLoadError,
    helm_python.HelmChartInvalidError,
    helm_python.HelmValuesError,
    helm_python.HelmRenderError,
    helm_python.HelmInvalidArgError,
)


def _translate(error: helm_python.HelmError, what: str) -> MlreleaseError:
    # Helm lists schema problems one per line; the CLI's contract is one line per error.
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    message = f"{what}: {' '.join(lines)}"
    if isinstance(error, _INPUT_ERRORS):
        return InputError(message)
    return MlreleaseError(message)


def load_chart(path: str | os.PathLike[str]) -> helm_python.Chart:
    """Load a chart directory or .tgz; InputError (Helm's message) if it is not a chart."""
    if not Path(path).exists():
        raise InputError(f"chart {os.fspath(path)} does not exist; pass --chart PATH")
    try:
        return helm_python.Chart.load(path)
    except helm_python.HelmError as error:
        raise _translate(error, f"cannot load chart {os.fspath(path)}") from error


def load_values_files(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Read `-f` values files with Helm's YAML reader and merge them, later files winning."""
    merged: dict[str, Any] = {}
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(
                f"cannot read values file {os.fspath(path)}: {error.strerror}"
            ) from error
        except UnicodeDecodeError:
            raise InputError(
                f"values file {os.fspath(path)} is not UTF-8 text; save it as UTF-8"
            ) from None
        try:
            values = helm_python.values_from_yaml(text) if text.strip() else {}
        except helm_python.HelmError as error:
            raise _translate(error, f"values file {os.fspath(path)}") from error
        merged = merge_values(merged, values or {})
    return merged


def validate_values(chart: helm_python.Chart, values: Mapping[str, Any]) -> None:
    """Check values (over the chart's defaults) against the chart's values.schema.json."""
    try:
        chart.validate_schema(dict(values))
    except helm_python.HelmError as error:
        raise _translate(error, f"values do not fit chart {chart.name}") from error


def render(
    chart: helm_python.Chart,
    values: Mapping[str, Any],
    *,
    release: str,
    namespace: str = "default",
) -> dict[str, str]:
    """Render like `helm install --dry-run`: {template path: text}; the schema is checked first."""
    try:
        helm_python.validate_release_name(release)
    except helm_python.HelmError as error:
        raise _translate(error, f"release name {release!r}") from error
    validate_values(chart, values)
    try:
        return chart.render(dict(values), name=release, namespace=namespace, is_install=True)
    except helm_python.HelmError as error:
        raise _translate(error, f"cannot render chart {chart.name}") from error


def manifests(rendered: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects of a render in template order, without NOTES.txt and empty documents."""
    objects = []
    for path in sorted(rendered):
        if not path.endswith((".yaml", ".yml")):
            continue
        for document in YAML(typ="safe", pure=True).load_all(rendered[path]):
            if document:
                objects.append(document)
    return objects


def manifest_text(rendered: Mapping[str, str]) -> str:
    """`helm template`-style output: each non-empty document behind `---` and `# Source:`."""
    parts = []
    for path in sorted(rendered):
        if not path.endswith((".yaml", ".yml")):
            continue
        for document in rendered[path].split("\n---"):
            body = document.strip("\n")
            if body.strip() and any(
                line.strip() and not line.lstrip().startswith("#") for line in body.splitlines()
            ):
                parts.append(f"---\n# Source: {path}\n{body}\n")
    return "".join(parts)


def parse_set(expression: str) -> dict[str, Any]:
    """One Helm `--set` expression (`a.b=1,c={x,y}`) as a values tree."""
    try:
        return helm_python.parse_set_string(expression)
    except helm_python.HelmError as error:
        raise _translate(error, "--set") from error


def package_chart(
    path: str | os.PathLike[str],
    *,
    destination: str | os.PathLike[str],
    version: str,
    app_version: str,
) -> str:
    """`helm package --version --app-version`; returns the .tgz path."""
    try:
        return helm_python.package(
            path, destination=destination, version=version, app_version=app_version
        )
    except helm_python.HelmError as error:
        raise _translate(error, f"cannot package {os.fspath(path)}") from error
