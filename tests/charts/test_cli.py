"""`mlrelease values training|scoring`, `template` and `package`, run as the pipeline runs them."""

import pytest
import yaml
from support.charts import CHARTS, REPO
from support.cli import run_mlrelease

from mlrelease.commands.package import build_metadata
from mlrelease.values import helm
from mlrelease.versions import version_id

PIPELINE_ENV = {
    "BUILD_BUILDNUMBER": "20261127.3",
    "BUILD_BUILDID": "1234",
    "BUILD_SOURCEVERSION": "0123456789abcdef0123456789abcdef01234567",
    "BUILD_SOURCEBRANCH": "refs/heads/main",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI": "https://dev.azure.com/example/",
    "SYSTEM_TEAMPROJECT": "recommender",
}


def mlrelease(*args, env=None, cwd=REPO):
    return run_mlrelease(*args, env=env, cwd=cwd)


COMMON = ["--image-repository", "example.azurecr.io/x", "--models-uri", "az://models"]


def test_values_training_writes_a_complete_checked_file(tmp_path):
    out = tmp_path / "training-values.yaml"
    result = mlrelease(
        "values", "training", "--out", out, *COMMON, "--data-uri", "az://exports/2026/11/27",
        "--storage-secret", "model-store", "--value", "hyperparameters.epochs=30", env=PIPELINE_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = yaml.safe_load(out.read_text())
    assert values["buildNumber"] == "20261127.3"
    assert values["versionId"] == mlrelease("version", "20261127.3").stdout.strip()
    assert values["image"] == {"repository": "example.azurecr.io/x", "tag": "20261127.3"}
    assert values["hyperparameters"] == {"epochs": 30}
    assert values["provenance"]["facts"]["commit"] == PIPELINE_ENV["BUILD_SOURCEVERSION"]
    assert "buildId=1234" in values["provenance"]["annotations"]["mlrelease.io/build-url"]
    chart = helm.load_chart(CHARTS / "training")
    objects = helm.manifests(helm.render(chart, values, release=f"training-{values['versionId']}"))
    (job,) = [o for o in objects if o["kind"] == "Job"]
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["EPOCHS"]["value"] == "30"
    assert (
        env["AZURE_STORAGE_CONNECTION_STRING"]["valueFrom"]["secretKeyRef"]["name"] == "model-store"
    )


def test_values_scoring_from_another_folder_uses_the_chart_flag(tmp_path):
    out = tmp_path / "scoring-values.yaml"
    result = mlrelease(
        "values", "scoring", "--out", out, *COMMON, "--build-number", "Build 42",
        "--image-tag", "build-42", "--chart", CHARTS / "scoring",
        "--workload-identity-client-id", "00000000-0000-0000-0000-000000000001",
        "--storage-account-url", "https://models.blob.core.windows.net", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = yaml.safe_load(out.read_text())
    assert values["buildNumber"] == "Build 42" and values["versionId"].startswith("vbuild-42-")
    assert values["serviceAccount"] == {"create": True}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data-uri", "x"], "no build number"),
        (["--data-uri", "x", "--build-number", "Build 42"], "--image-tag"),
        (
            ["--data-uri", "x", "--build-number", "1", "--value", "hyperparameters.epochs=zero"],
            "/hyperparameters/epochs",
        ),
        (["--data-uri", "x", "--build-number", "1", "--value", "bogus=1"], "bogus"),
        (["--data-uri", "x", "--build-number", "1", "--chart", "charts/scoring"], "not 'training'"),
        (["--data-uri", "x", "--build-number", "1", "--chart", "nowhere"], "does not exist"),
    ],
)
def test_values_rejects_bad_input_with_exit_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "values.yaml"
    result = mlrelease("values", "training", "--out", out, *COMMON, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_template_prints_manifests_and_fails_with_helms_message(tmp_path):
    result = mlrelease("template", "charts/routing", "-f", "charts/routing/ci/ci-values.yaml")
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(kinds) == [
        "ConfigMap",
        "DestinationRule",
        "Gateway",
        "PrometheusRule",
        "Service",
        "VirtualService",
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("versions:\n  - {name: va, weight: 60}\n")
    result = mlrelease("template", "charts/routing", "-f", bad)
    assert result.returncode == 2
    assert "weights must sum to 100, got 60" in result.stderr and result.stdout == ""


def test_package_bakes_values_in_and_re_renders_identically(tmp_path):
    build = "20261127.3 (rerun)"
    values_file = tmp_path / "values.yaml"
    ci_values = yaml.safe_load((CHARTS / "scoring" / "ci" / "ci-values.yaml").read_text())
    ci_values.update(buildNumber=build, versionId=version_id(build))
    values_file.write_text(yaml.safe_dump(ci_values))
    result = mlrelease(
        "package", "charts/scoring", "-f", values_file, "--build-number", build, "-d", tmp_path
    )
    assert result.returncode == 0, result.stderr
    # The build number had to be changed to fit semver, so a hash of it keeps names apart.
    archive = tmp_path / f"scoring-0.1.0+{build_metadata(build)}.tgz"
    assert build_metadata(build).startswith("20261127.3-rerun.")
    assert result.stdout.strip() == str(archive)
    packaged = helm.load_chart(archive)
    assert packaged.metadata["appVersion"] == build
    assert not any(f["name"].startswith(("ci/", "tests/")) for f in packaged.files)
    assert any(t["name"] == "templates/tests/test-readyz.yaml" for t in packaged.templates)
    source = helm.load_chart(CHARTS / "scoring")
    values = helm.load_values_files([values_file])
    release = f"scoring-{version_id(build)}"
    from_artifact = helm.render(packaged, {}, release=release, namespace="ml")
    from_source = helm.render(source, values, release=release, namespace="ml")
    # Only the chart version and appVersion labels may differ.
    normalise = lambda text: "\n".join(  # noqa: E731
        line
        for line in text.splitlines()
        if "helm.sh/chart" not in line and "app.kubernetes.io/version" not in line
    )
    assert {k: normalise(v) for k, v in from_artifact.items()} == {
        k: normalise(v) for k, v in from_source.items()
    }
