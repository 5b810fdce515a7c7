"""Upgrade safety on the live API server: each chart's previous revision, upgraded to this one.

The previous revision is the chart as the last commit before the newest change to it left it
(from git). The scoring and routing charts are installed at it with this build's values files,
then upgraded to the chart the Package job packaged, with `--wait`: the API server refuses what
an upgrade may not change (a Deployment's selector, a Service's clusterIP, ...), which no
rendering shows. A training release is never upgraded (a Job's pod template is immutable): a
rerun of the same build is checked instead, and the refusal across revisions is shown. A
second build's scoring release installs beside the first without a name or selector collision.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest
from support.pipelines import REPO
from support.releases import helm

NAMESPACE = "mlrelease-upgrade"
# Training releases are never upgraded (a Job's pod template is immutable): see below.
UPGRADED = ("scoring", "routing")


def previous_revision(chart: str, destination: Path) -> tuple[str, Path]:
    """The chart folder at the commit before its newest change, unpacked under destination."""
    log = subprocess.run(
        ["git", "log", "--format=%H", "-n", "2", "--", f"charts/{chart}"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    commits = log.stdout.split()
    if log.returncode or len(commits) < 2:
        pytest.fail(f"no previous revision of charts/{chart} in git: {log.stderr}")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commits[1], f"charts/{chart}"],
        cwd=REPO, capture_output=True, check=True,
    )  # fmt: skip
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    return commits[1][:7], destination / "charts" / chart


@pytest.fixture(scope="module")
def namespace(cluster, storage):
    cluster.create_namespace(NAMESPACE)
    storage.secret(NAMESPACE)
    return NAMESPACE


@pytest.fixture(scope="module")
def build(pipelines):
    return pipelines.package("20261205.1")


def _values(build, chart: str, tmp_path: Path) -> Path:
    if chart == "scoring":
        return build.artifact / f"{chart}-values.yaml"
    routing = tmp_path / "routing-values.yaml"
    mlrelease = str(Path(sys.executable).parent / "mlrelease")
    subprocess.run(
        [mlrelease, "traffic", "promote", "--version", build.version_id, "--out", str(routing)],
        check=True,
        capture_output=True,
    )
    return routing


@pytest.mark.parametrize("chart", UPGRADED)
def test_the_previous_chart_revision_upgrades_to_this_one(
    cluster, namespace, build, chart, tmp_path
):
    revision, old = previous_revision(chart, tmp_path / "old")
    (new,) = (build.artifact / "charts").glob(f"{chart}-*.tgz")
    values = _values(build, chart, tmp_path)
    release = f"upgrade-{chart}"
    wait = ("--wait", "--timeout", "240s")
    installed = helm(
        cluster, "install", release, str(old), "-n", namespace, "-f", str(values), *wait
    )
    assert installed.returncode == 0, f"charts/{chart}@{revision}: {installed.stderr}"
    upgraded = helm(
        cluster, "upgrade", release, str(new), "-n", namespace, "-f", str(values), *wait
    )
    assert upgraded.returncode == 0, f"charts/{chart}@{revision} -> now: {upgraded.stderr}"
    status = helm(cluster, "status", release, "-n", namespace)
    assert "STATUS: deployed" in status.stdout
    assert "REVISION: 2" in status.stdout
    helm(cluster, "uninstall", release, "-n", namespace, "--wait")


def test_a_training_release_reruns_but_is_never_upgraded_across_chart_revisions(
    cluster, namespace, build, tmp_path
):
    """A rerun of the Train job (same artifact) is an accepted no-op upgrade; an upgrade to
    another chart revision is refused by the API server, which is why every build installs
    its own `training-<id>` release instead of upgrading one."""
    revision, old = previous_revision("training", tmp_path / "old")
    (new,) = (build.artifact / "charts").glob("training-*.tgz")
    values = str(build.artifact / "training-values.yaml")
    wait = ("--wait", "--timeout", "240s")
    for release in ("rerun-training", "upgrade-training"):
        chart = new if release == "rerun-training" else old
        installed = helm(cluster, "install", release, str(chart), "-n", namespace, "-f", values)
        assert installed.returncode == 0, installed.stderr
    rerun = helm(
        cluster, "upgrade", "--install", "rerun-training", str(new), "-n", namespace,
        "-f", values, *wait,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    upgraded = helm(cluster, "upgrade", "upgrade-training", str(new), "-n", namespace, "-f", values)
    if upgraded.returncode == 0:
        # The two revisions render the same pod template: nothing immutable changed.
        return
    assert "spec.template" in upgraded.stderr and "field is immutable" in upgraded.stderr, (
        f"charts/training@{revision} -> now failed otherwise: {upgraded.stderr}"
    )
    for release in ("rerun-training", "upgrade-training"):
        helm(cluster, "uninstall", release, "-n", namespace, "--wait")


def test_a_second_builds_scoring_release_coexists_with_the_first(
    cluster, pipelines, namespace, build
):
    second = pipelines.package("20261206.1")
    releases = []
    for one in (build, second):
        release = f"scoring-{one.version_id}"
        (chart,) = (one.artifact / "charts").glob("scoring-*.tgz")
        result = helm(
            cluster, "install", release, str(chart), "-n", namespace,
            "-f", str(one.artifact / "scoring-values.yaml"), "--wait", "--timeout", "240s",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        releases.append((release, one))
    deployments = {
        d["metadata"]["name"]: d for d in cluster.get("deployments", namespace=namespace)["items"]
    }
    pods = cluster.get("pods", namespace=namespace)["items"]
    for release, one in releases:
        deployment = deployments[release]
        assert deployment["status"].get("readyReplicas") == deployment["spec"]["replicas"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        picked = [
            p for p in pods
            if all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]  # fmt: skip
        assert picked, release
        assert {p["metadata"]["labels"]["mlrelease.io/version"] for p in picked} == {one.version_id}
    services = {
        s["metadata"]["name"] for s in cluster.get("services", namespace=namespace)["items"]
    }
    assert {release for release, _ in releases} <= services
