"""Find objects in rendered manifests and turn a container spec into a local process spec."""

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from mlrelease.errors import MlreleaseError


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
    """What a container would run: its argv and its environment, as the manifest says."""

    name: str
    argv: list[str]
    env: dict[str, str]


def find(objects: Iterable[dict[str, Any]], kind: str, *, hook: bool = False) -> dict[str, Any]:
    """The one object of `kind` (ignoring Helm test hooks unless `hook`)."""
    matches = [
        obj
        for obj in objects
        if obj.get("kind") == kind
        and ("helm.sh/hook" in obj["metadata"].get("annotations", {})) == hook
    ]
    if len(matches) != 1:
        raise MlreleaseError(f"expected one {kind} in the rendered chart, found {len(matches)}")
    return matches[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a Job, Deployment or Pod."""
    if workload["kind"] == "Pod":
        return workload["spec"]
    return workload["spec"]["template"]["spec"]


def process_spec(
    container: dict[str, Any], secrets: Mapping[str, Mapping[str, str]]
) -> ProcessSpec:
    """argv and env of `container`; secretKeyRef values come from `secrets[name][key]`."""
    argv = [*container.get("command", []), *container.get("args", [])]
    if not argv:
        raise MlreleaseError(
            f"container {container['name']} has no command; the chart must set one"
        )
    env = {}
    for variable in container.get("env", []):
        env[variable["name"]] = _env_value(variable, secrets)
    return ProcessSpec(container["name"], argv, env)


def _env_value(variable: dict[str, Any], secrets: Mapping[str, Mapping[str, str]]) -> str:
    if "value" in variable:
        return str(variable["value"])
    reference = variable.get("valueFrom", {}).get("secretKeyRef")
    if reference:
        try:
            return secrets[reference["name"]][reference["key"]]
        except KeyError:
            raise MlreleaseError(
                f"env {variable['name']} reads Secret {reference['name']} key {reference['key']}, "
                "which this rehearsal did not create"
            ) from None
    raise MlreleaseError(f"env {variable['name']} uses a source the rehearsal cannot provide")
