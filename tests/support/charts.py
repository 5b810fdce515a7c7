"""Chart test support: paths, reference schemas, rendering and per-object checks."""

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from mlrelease.values import helm

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
CHART_NAMES = ("training", "scoring", "routing")

K8S_VERSIONS = ("1.29", "1.33")

# kubernetes-validate re-reads its (large) JSON schemas on every call; they never change
# during a run, so read each file once.
kubernetes_validate.utils.schema_contents = functools.cache(
    kubernetes_validate.utils.schema_contents
)


def ci_values(charts_dir: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((charts_dir / name / "ci" / "ci-values.yaml").read_text())


def render_objects(chart, values, release, namespace="mlrelease") -> list[dict[str, Any]]:
    return helm.manifests(helm.render(chart, values, release=release, namespace=namespace))


def validate_kubernetes(obj: dict[str, Any]) -> bool:
    """kubernetes-validate --strict for each version; False for kinds it has no schema for."""
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return False
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(
                f"{obj['kind']}/{obj['metadata']['name']} invalid for Kubernetes {version}: "
                f"{error.message} at {'.'.join(map(str, error.absolute_path))}"
            ) from None
    return True


def _python_pattern(pattern: str) -> str:
    # CRD patterns are Go (RE2) expressions, where a flag group such as `^(?i)(abort|warn)?$`
    # may stand mid-pattern; Python accepts global flags only at the start.
    if "(?i)" in pattern and not pattern.startswith("(?i)"):
        return "(?i)" + pattern.replace("(?i)", "")
    return pattern


def _close(schema: Any) -> Any:
    # Reject unknown fields the way the API server's structural schema pruning would surface
    # them: every object with `properties` but no explicit stance on extra keys is closed.
    if isinstance(schema, dict):
        schema = {key: _close(value) for key, value in schema.items()}
        if isinstance(schema.get("pattern"), str):
            schema["pattern"] = _python_pattern(schema["pattern"])
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_close(item) for item in schema]
    return schema


@functools.cache
def crd_spec_validators(crds_path: Path) -> dict[tuple[str, str], Any]:
    """{(apiVersion, kind): validator of the closed `spec` schema} for every served version."""
    schemas = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for crd in yaml.load_all(crds_path.read_text(), Loader=loader):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
            schema = _close(copy.deepcopy(spec))
            validator = jsonschema.validators.validator_for(schema)
            validator.check_schema(schema)
            schemas[(f"{group}/{version['name']}", kind)] = validator(schema)
    return schemas


def validate_custom_resource(obj: dict[str, Any], crds_path: Path) -> None:
    """Check a custom resource's `spec` against its CRD's schema, unknown fields rejected."""
    key = (obj["apiVersion"], obj["kind"])
    validators = crd_spec_validators(crds_path)
    assert key in validators, f"no CRD schema for {key} in {crds_path.name}"
    validators[key].validate(obj["spec"])
    assert set(obj) <= {"apiVersion", "kind", "metadata", "spec"}, sorted(obj)
    metadata = obj["metadata"]
    for field in ("labels", "annotations"):
        assert all(isinstance(v, str) for v in (metadata.get(field) or {}).values()), field


def validate_istio(obj: dict[str, Any], crds_path: Path) -> None:
    validate_custom_resource(obj, crds_path)
