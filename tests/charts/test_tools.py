"""The tools `make tools` built are the pinned ones, and each version has one owner.

Helm's version is owned by azure-pipelines/variables.yml (the pipelines install that Helm); the
Makefile and tools/install_tools.sh read it from there, and the helm-unittest wrapper module
links the same Helm library, so the suites render on the engine the pipelines deploy with.
"""

import re
import subprocess

from support.tools import (
    HELM,
    HELM_PLUGINS,
    HELM_UNITTEST_GO_MOD,
    ISTIOCTL,
    REPO,
    go_mod_version,
    helm_version,
    istio_version,
    output,
    run,
)


def test_the_makefile_reads_the_helm_version_from_the_pipeline_variables():
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "tools", "TOOLS=/nonexistent"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"HELM_VERSION={helm_version()} bash tools/install_tools.sh" in result.stdout


def test_helm_unittest_links_the_pipelines_helm():
    assert go_mod_version(HELM_UNITTEST_GO_MOD, "helm.sh/helm/v3") == f"v{helm_version()}"


def test_the_built_helm_is_the_pipelines_helm(tmp_path):
    result = run(HELM, ["version", "--template", "{{.Version}}"], tmp_path)
    assert result.returncode == 0, output(result)
    assert result.stdout == f"v{helm_version()}"


def test_the_built_helm_defaults_to_the_kubernetes_its_client_go_supports(tmp_path):
    # Without the release ldflags Helm would assume Kubernetes 1.20 for Capabilities and lint.
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\n"
        'data: {kube: "{{ .Capabilities.KubeVersion.Version }}"}\n'
    )
    result = run(HELM, ["template", chart], tmp_path)
    assert result.returncode == 0, output(result)
    (minor,) = re.findall(r'kube: "v1\.(\d+)\.0"', result.stdout)
    assert int(minor) >= 33


def test_the_plugin_is_the_pinned_helm_unittest(tmp_path):
    version = go_mod_version(HELM_UNITTEST_GO_MOD, "github.com/helm-unittest/helm-unittest")
    plugin = (HELM_PLUGINS / "unittest" / "plugin.yaml").read_text()
    assert f'version: "{version.removeprefix("v")}"' in plugin
    result = run(HELM, ["plugin", "list"], tmp_path)
    assert result.returncode == 0, output(result)
    assert re.search(rf"^unittest\s+{re.escape(version.removeprefix('v'))}\s", result.stdout, re.M)


def test_the_built_istioctl_is_the_pinned_commit(tmp_path):
    result = run(ISTIOCTL, ["version", "--remote=false"], tmp_path)
    assert result.returncode == 0, output(result)
    assert result.stdout.strip() == f"client version: {istio_version()}"
