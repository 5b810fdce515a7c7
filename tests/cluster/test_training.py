"""build-train.yml's Package and Train jobs against the live API server.

The Package job's own steps write the values files and package the charts; the Train job's own
steps install `training-<id>` with `helm upgrade --install --wait`, wait for the Job with
tools/wait_for_job.sh (real `kubectl wait` on the real Job controller's conditions) and verify
the model. The simulated kubelet runs no container: the trainer runs on this machine with the
env the API server holds for the Job's container, before the pipeline's verify step.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from support.releases import compile_variables, helm, helm_json

NAMESPACE = compile_variables()["trainingNamespace"]
PROVENANCE = {
    "Build.SourceVersion": "4b46ac11d0c1e2f3a4b5c6d7e8f90123456789ab",
    "Build.SourceBranch": "refs/heads/main",
    "Build.BuildId": "4242",
    "Build.Reason": "Schedule",
    "Build.RequestedFor": "Nightly Scheduler",
    "System.TeamFoundationCollectionUri": "https://dev.azure.com/contoso/",
    "System.TeamProject": "mlrelease",
}


@pytest.fixture(scope="module")
def namespace(cluster, storage):
    cluster.create_namespace(NAMESPACE)
    storage.secret(NAMESPACE)
    return NAMESPACE


def _pod_fails(artifact):
    """The simulated kubelet fails a pod with this label, as a training container exiting 1."""
    path = artifact / "training-values.yaml"
    values = yaml.safe_load(path.read_text())
    values.setdefault("podLabels", {})["mlrelease.io/simulate"] = "fail"
    path.write_text(yaml.safe_dump(values, sort_keys=False))


def test_the_train_job_installs_waits_for_the_job_and_verifies_the_model(
    cluster, pipelines, namespace, storage
):
    build = pipelines.package("20261201.1", provenance=PROVENANCE)
    release = f"training-{build.version_id}"

    def run_the_pod():
        result = pipelines.run_training_pod(namespace, release)
        assert result.returncode == 0, result.stderr[-3000:]

    runner = pipelines.train(build, hooks={"Verify the published model": run_the_pod})
    report = runner.report()
    assert not runner.failed, report
    assert runner.status(f"helm upgrade --install {release}") == "succeeded", report
    assert runner.status("Wait for the training Job") == "succeeded", report
    assert runner.status("Training Job logs") == "skipped", report
    assert runner.status("Verify the published model") == "succeeded", report

    job = cluster.get("job", release, namespace)
    conditions = {c["type"]: c["status"] for c in job["status"]["conditions"]}
    assert conditions.get("Complete") == "True", conditions
    assert job["status"]["succeeded"] == 1
    # Defaults the API server filled in, which rendering never shows.
    assert job["spec"]["completionMode"] == "NonIndexed"
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")

    labels = job["metadata"]["labels"]
    assert labels["mlrelease.io/version"] == build.version_id
    assert (
        labels["mlrelease.io/commit"]
        == PROVENANCE["Build.SourceVersion"][: len(labels["mlrelease.io/commit"])]
    )
    assert labels["mlrelease.io/branch"] == "main"
    assert labels["mlrelease.io/build-id"] == "4242"
    annotations = job["metadata"]["annotations"]
    assert annotations["mlrelease.io/build-number"] == build.number
    assert "buildId=4242" in annotations["mlrelease.io/build-url"]

    # The storage credential reaches the container only by reference.
    (container,) = job["spec"]["template"]["spec"]["containers"]
    references = [v for v in container["env"] if "valueFrom" in v]
    assert {v["name"] for v in references} == {"AZURE_STORAGE_CONNECTION_STRING"}
    assert references[0]["valueFrom"]["secretKeyRef"]["name"] == "mlrelease-storage"
    storage.assert_not_in(
        json.dumps(job), helm(cluster, "get", "all", release, "-n", namespace).stdout
    )

    (history,) = helm_json(cluster, "history", release, "-n", namespace)
    assert history["status"] == "deployed"


def test_a_failing_training_job_fails_the_wait_at_once_and_shows_its_logs(
    cluster, pipelines, namespace
):
    build = pipelines.package("20261201.2", values=_pod_fails)
    release = f"training-{build.version_id}"
    started = time.monotonic()
    runner = pipelines.train(build)
    seconds = time.monotonic() - started
    report = runner.report()
    assert runner.failed, report
    assert runner.status(f"helm upgrade --install {release}") == "succeeded", report
    assert runner.status("Wait for the training Job") == "failed", report
    assert "failed" in runner.result("Wait for the training Job").output
    assert runner.status("Training Job logs") != "skipped", report
    assert runner.status("Verify the published model") == "skipped", report
    # The wait's timeout is 240 s here (7,500 s in the pipeline); a failed Job ends it at once.
    assert seconds < 120, report

    job = cluster.get("job", release, namespace)
    conditions = {c["type"]: c["status"] for c in job["status"]["conditions"]}
    assert conditions.get("Failed") == "True", conditions
    # backoffLimit 1: the Job controller retried once before giving up.
    assert job["status"]["failed"] == 2
