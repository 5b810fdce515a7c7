"""Every chart through the real Helm 3 CLI the pipelines pin (azure-pipelines/variables.yml,
built by `make tools`): `helm lint --strict` with the defaults and the `ci/` values, `helm
template` (the same objects as the embedded engine renders), and `helm package` whose archive
lints clean and leaves the suites and CI values out.
"""

import tarfile

import pytest
import yaml
from support.charts import CHART_NAMES, CHARTS, ci_values, render_objects
from support.tools import HELM, output, run

VALUES = ("defaults", "ci")


def _values_args(name: str, values_kind: str) -> list[object]:
    return [] if values_kind == "defaults" else ["-f", CHARTS / name / "ci" / "ci-values.yaml"]


@pytest.mark.parametrize("values_kind", VALUES)
@pytest.mark.parametrize("name", CHART_NAMES)
def test_helm_lint_strict_is_clean(name, values_kind, tmp_path):
    result = run(
        HELM, ["lint", "--strict", *_values_args(name, values_kind), CHARTS / name], tmp_path
    )
    assert result.returncode == 0, output(result)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout, output(result)
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, output(result)


def _key(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


@pytest.mark.parametrize("values_kind", VALUES)
@pytest.mark.parametrize("name", CHART_NAMES)
def test_helm_template_renders_what_the_embedded_engine_renders(
    charts, name, values_kind, tmp_path
):
    release = f"{name}-v20261127-3"
    args = ["template", release, CHARTS / name, "--namespace", "mlrelease"]
    result = run(HELM, [*args, *_values_args(name, values_kind)], tmp_path)
    assert result.returncode == 0, output(result)
    cli = sorted((o for o in yaml.safe_load_all(result.stdout) if o), key=_key)
    values = {} if values_kind == "defaults" else ci_values(CHARTS, name)
    engine = sorted(render_objects(charts[name], values, release, "mlrelease"), key=_key)
    assert [_key(o) for o in cli] == [_key(o) for o in engine]
    assert cli == engine


@pytest.mark.parametrize("name", CHART_NAMES)
def test_helm_package_makes_an_archive_that_lints_clean(name, tmp_path):
    result = run(HELM, ["package", CHARTS / name, "--destination", tmp_path / "out"], tmp_path)
    assert result.returncode == 0, output(result)
    version = yaml.safe_load((CHARTS / name / "Chart.yaml").read_text())["version"]
    archive = tmp_path / "out" / f"{name}-{version}.tgz"
    assert archive.is_file(), output(result)
    with tarfile.open(archive) as tar:
        members = tar.getnames()
    assert f"{name}/Chart.yaml" in members and f"{name}/values.schema.json" in members
    kept_out = [m for m in members if m.startswith((f"{name}/ci/", f"{name}/tests/"))]
    assert kept_out == []
    linted = run(HELM, ["lint", "--strict", archive], tmp_path)
    assert linted.returncode == 0, output(linted)
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout, output(linted)
