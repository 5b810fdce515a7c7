"""The reference schemas kept in tests/schemas/ (source, version and licence in its README)."""

from pathlib import Path

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
ISTIO_CRDS = SCHEMAS / "istio-crds.gen.yaml"
HELM_TESTSUITE = SCHEMAS / "helm-testsuite.json"
AZURE_PIPELINES = SCHEMAS / "azure-pipelines.service-schema.json"
PROMETHEUS_OPERATOR_CRDS = SCHEMAS / "prometheus-operator-crds.yaml"
