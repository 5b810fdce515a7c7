"""release.yml's deployment job against the live API server, in the order a real rollout runs.

Two builds, A and B, are packaged and trained by the build pipeline's own jobs. Then, in the
prod stage's namespace with its canary plan (10, 25, 50, 100; the pause set to 0 s):

1. A's release: `scoring-A` installed with `--wait`, `helm test`, no routing yet, so the first
   routing sends A everything.
2. B's release fails at its first step: the step's `mlrelease analyze` cannot reach Prometheus
   (nothing listens at the URL given), so the deployment job's `on: failure` steps restore the
   routing saved before traffic moved.
3. B's release again, with the analysis off (no traffic flows here, as in dev) and one version
   kept: every step of the plan, the promotion, then the retirement of A (routing, then
   `helm uninstall`).

After each, the live objects are read back: weights and subsets of the VirtualService and
DestinationRule, the pod labels and provenance annotations, Helm's release history, and no
Secret value anywhere in a release.
"""

from __future__ import annotations

import json

import pytest
from support.cluster import free_port
from support.releases import compile_variables, helm, helm_json

ENVIRONMENT = "prod"
NAMESPACE = compile_variables()["prodNamespace"]
ROUTING = compile_variables()["routingRelease"]
STAGE = {"pauseSeconds": "0"}  # prod waits 900 s per step
STEPS = [10, 25, 50, 100]


@pytest.fixture(scope="module")
def builds(cluster, pipelines, storage):
    """Builds A and B, trained (their models published) by the Train job."""
    found = {}
    for name, number in (("A", "20261202.1"), ("B", "20261203.1")):
        build = pipelines.package(number)
        release = f"training-{build.version_id}"

        def run_the_pod(release=release):
            namespace = compile_variables()["trainingNamespace"]
            result = pipelines.run_training_pod(namespace, release)
            assert result.returncode == 0, result.stderr[-3000:]

        cluster.create_namespace(compile_variables()["trainingNamespace"])
        storage.secret(compile_variables()["trainingNamespace"])
        runner = pipelines.train(build, hooks={"Verify the published model": run_the_pod})
        assert not runner.failed, runner.report()
        found[name] = build
    cluster.create_namespace(NAMESPACE)
    storage.secret(NAMESPACE)
    return found


def release_summary(runner) -> str:
    """The published release summary's Markdown; its picture must be beside it."""
    assert runner.status("Write the release summary and its traffic picture") == "succeeded", (
        runner.report()
    )
    published = runner.artifacts[f"release-summary-{ENVIRONMENT}-1.1"]
    assert (published / "release-traffic.png").read_bytes().startswith(b"\x89PNG")
    return (published / "release-summary.md").read_text()


def weights(cluster) -> dict[str, int]:
    (service,) = cluster.get("virtualservices.networking.istio.io", namespace=NAMESPACE)["items"]
    (split,) = [route for route in service["spec"]["http"] if route["name"] == "split"]
    return {r["destination"]["subset"]: r.get("weight", 100) for r in split["route"]}


def subsets(cluster) -> dict[str, dict]:
    (rule,) = cluster.get("destinationrules.networking.istio.io", namespace=NAMESPACE)["items"]
    return {s["name"]: s["labels"] for s in rule["spec"]["subsets"]}


def check_scoring_release(cluster, storage, build) -> None:
    release = f"scoring-{build.version_id}"
    deployment = cluster.get("deployment", release, NAMESPACE)
    assert deployment["status"]["readyReplicas"] == deployment["spec"]["replicas"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert build.version_id in selector.values(), selector
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["mlrelease.io/version"] == build.version_id
    assert pod_labels["service.istio.io/canonical-revision"] == build.version_id
    assert deployment["metadata"]["annotations"]["mlrelease.io/build-number"] == build.number
    # Pods the ReplicaSet made are exactly those its selector picks; none of another release.
    pods = cluster.get("pods", namespace=NAMESPACE)["items"]
    mine = [
        p for p in pods if all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())
    ]
    assert mine and all(
        p["metadata"]["labels"]["mlrelease.io/version"] == build.version_id for p in mine
    )
    storage.assert_not_in(
        helm(cluster, "get", "all", release, "-n", NAMESPACE).stdout, json.dumps(deployment)
    )


def test_the_first_release_installs_scoring_tests_it_and_routes_everything_to_it(
    cluster, pipelines, builds, storage
):
    a = builds["A"]
    runner = pipelines.release(a, ENVIRONMENT, overrides=STAGE)
    report = runner.report()
    assert not runner.failed, report
    assert runner.status(f"helm upgrade --install scoring-{a.version_id}") == "succeeded", report
    assert runner.status(f"helm test scoring-{a.version_id}") == "succeeded", report
    assert runner.variables["hasPreviousRouting"] == "false"
    # The first routing ran; the canary steps' routing upgrades did not.
    routing = runner.statuses(f"helm upgrade --install {ROUTING}")
    assert routing == ["succeeded"] + ["skipped"] * len(STEPS), report

    check_scoring_release(cluster, storage, a)
    assert weights(cluster) == {a.version_id: 100}
    assert subsets(cluster)[a.version_id]["version"] == a.version_id
    assert len(helm_json(cluster, "history", ROUTING, "-n", NAMESPACE)) == 1
    summary = release_summary(runner)
    assert f"| first routing | yes | `{a.version_id}` 100% |" in summary


def test_a_failed_canary_step_restores_the_saved_routing(cluster, pipelines, builds, storage):
    a, b = builds["A"], builds["B"]
    before = weights(cluster)
    seen = {}

    def record(name: str) -> None:
        if name.startswith("Analyse "):
            seen[name] = weights(cluster)

    # The step's analysis cannot reach Prometheus (nothing listens there): exit 1, roll back.
    runner = pipelines.release(
        b,
        ENVIRONMENT,
        overrides={**STAGE, "analysisInterval": "30s"},
        variables={"prometheusUrl": f"http://127.0.0.1:{free_port()}"},
        before_step=record,
    )
    report = runner.report()
    assert runner.failed, report
    assert runner.variables["hasPreviousRouting"] == "true"
    assert runner.status(f"helm test scoring-{b.version_id}") == "succeeded", report
    assert runner.status("Analyse 10% on the new version") == "failed", report
    assert runner.status("Analyse 25% on the new version") == "skipped", report
    assert runner.status("Restore the previous routing") == "succeeded", report

    assert seen == {"Analyse 10% on the new version": {a.version_id: 90, b.version_id: 10}}
    assert weights(cluster) == before
    history = helm_json(cluster, "history", ROUTING, "-n", NAMESPACE)
    # the first routing, the 10% step, the restore
    assert [entry["status"] for entry in history] == ["superseded", "superseded", "deployed"]
    # Written before the failure hook ran: the 10% step applied and never judged, the rest
    # not reached, and the routing the hook then restored.
    summary = release_summary(runner)
    assert summary.startswith(f"# Release of `{b.version_id}`: job failed")
    assert f"| 10% on {b.version_id} | 20" in summary and "| not judged |" in summary
    assert f"| 25% on {b.version_id} | not reached |" in summary
    assert f"restores the routing saved before the release, `{a.version_id}` 100%" in summary
    check_scoring_release(cluster, storage, b)


def test_the_canary_plan_walks_every_step_promotes_and_retires(cluster, pipelines, builds, storage):
    a, b = builds["A"], builds["B"]
    seen = {}

    def record(name: str) -> None:
        if name.startswith("Run ") and "% on the new version" in name:
            seen[int(name.split()[1].rstrip("%"))] = weights(cluster)

    # No traffic flows here, so no step can be judged (as in dev); keep only the newest version.
    overrides = {**STAGE, "analysis": "false", "keepVersions": "1"}
    runner = pipelines.release(b, ENVIRONMENT, overrides=overrides, before_step=record)
    report = runner.report()
    assert not runner.failed, report
    assert sorted(seen) == STEPS
    for percent in STEPS:
        got = seen[percent]
        assert got.get(b.version_id) == percent, (percent, got)
        assert got.get(a.version_id, 0) == 100 - percent, (percent, got)
    retire = "Apply the retired routing, then uninstall the retired scoring releases"
    assert runner.status(retire) == "succeeded", report

    # Promoted, then A retired: out of the routing, its release uninstalled.
    assert weights(cluster) == {b.version_id: 100}
    assert set(subsets(cluster)) == {b.version_id}
    releases = {r["name"] for r in helm_json(cluster, "list", "-n", NAMESPACE)}
    assert releases == {ROUTING, f"scoring-{b.version_id}"}
    gone = cluster.kubectl(
        "get", "deployment", f"scoring-{a.version_id}", "-n", NAMESPACE, check=False
    )
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    check_scoring_release(cluster, storage, b)
    summary = release_summary(runner)
    assert summary.startswith(f"# Release of `{b.version_id}`: job succeeded")
    assert summary.count("| not measured | not judged |") == len(STEPS)
