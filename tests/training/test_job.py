"""`python -m training` end to end: publish, refuse a rerun, gate on quality, bad input."""

import hashlib
import json
from pathlib import Path

import pytest
from support.azurite import AZURITE_CONTAINER
from support.training import BUILD_NUMBER, SMALL, run_training

from mlrelease.rehearsal.azurite import DEV_ACCOUNT, DEV_KEY, free_port
from mlrelease.sampledata import write_synthetic_export
from mlrelease.store import artifact
from mlrelease.store.modelfiles import FILE_NAMES
from mlrelease.versions import version_id
from training.config import DEFAULTS

VERSION = version_id(BUILD_NUMBER)


def version_folder(env: dict[str, str]) -> Path:
    return Path(env["MODELS_URI"], env["MODEL_NAME"], VERSION)


def fingerprint(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under `folder` with its mtime (ns) and sha256."""
    return {
        path.relative_to(folder).as_posix(): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_run_publishes_a_verifiable_version_with_provenance(job_env, export):
    result = run_training(job_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # logs go to stderr
    assert "epoch 10/10 done" in result.stderr

    folder = version_folder(job_env)
    manifest = artifact.verify(str(folder))
    assert set(manifest["files"]) == set(FILE_NAMES)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*FILE_NAMES, artifact.MANIFEST, artifact.COMPLETE]
    )
    assert manifest["formatVersion"] == artifact.FORMAT_VERSION
    assert (manifest["modelName"], manifest["versionId"]) == ("recs", VERSION)
    assert manifest["buildNumber"] == BUILD_NUMBER
    assert manifest["createdAt"].endswith("Z")
    assert manifest["provenance"]["commit"] == "0123abcd"
    assert manifest["provenance"]["versionId"] == VERSION

    inputs = sorted(export.rglob("*.csv"))
    assert [entry["path"] for entry in manifest["data"]["files"]] == [
        path.relative_to(export).as_posix() for path in inputs
    ]
    for entry, path in zip(manifest["data"]["files"], inputs, strict=True):
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    expected_rows = SMALL["users"] * SMALL["interactions_per_user"]
    assert manifest["data"]["rows"] == expected_rows
    assert (manifest["data"]["users"], manifest["data"]["items"]) == (150, 60)

    assert manifest["hyperparameters"]["epochs"] == 10
    assert manifest["hyperparameters"]["split"] == "time"
    metrics = manifest["metrics"]
    assert metrics["k"] == 10 and metrics["precisionAtK"] >= 0.05
    assert 0.5 < metrics["auc"] <= 1 and metrics["trainSeconds"] > 0
    assert set(manifest["libraries"]) >= {"python", "lightfm", "numpy", "scipy", "mlrelease"}
    assert f"precision@10={metrics['precisionAtK']:.4f}" in result.stderr


def test_rerunning_a_build_is_refused_before_training_and_changes_nothing(job_env):
    assert run_training(job_env).returncode == 0
    folder = version_folder(job_env)
    before = fingerprint(folder)

    again = run_training(job_env)
    assert again.returncode == 1
    assert "already holds" in again.stderr and "new build number" in again.stderr
    assert "epoch" not in again.stderr  # refused before any training
    assert fingerprint(folder) == before


def test_a_model_below_the_quality_gate_publishes_nothing(job_env):
    result = run_training({**job_env, "MIN_PRECISION_AT_K": "0.99"})
    assert result.returncode == 1
    assert "quality gate failed: precision@10 is 0." in result.stderr
    assert "below MIN_PRECISION_AT_K=0.99" in result.stderr
    assert not Path(job_env["MODELS_URI"]).exists()


def test_too_few_held_out_users_to_judge_exits_2_before_training(job_env, tmp_path):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "interactions.csv").write_text("user_id,item_id\nu1,i1\nu1,i2\nu2,i1\n")
    result = run_training({**job_env, "DATA_URI": str(tiny), "MIN_PRECISION_AT_K": "0"})
    assert result.returncode == 2, result.stderr
    assert f"fewer than MIN_TEST_USERS={DEFAULTS['MIN_TEST_USERS']}" in result.stderr
    assert "epoch" not in result.stderr  # refused before the fit
    assert not Path(job_env["MODELS_URI"]).exists()


def test_the_default_minimum_of_held_out_users_is_recorded_and_met(job_env):
    result = run_training(job_env)
    assert result.returncode == 0, result.stderr
    metrics = artifact.verify(str(version_folder(job_env)))["metrics"]
    assert metrics["minTestUsers"] == int(DEFAULTS["MIN_TEST_USERS"])
    assert metrics["testUsers"] >= metrics["minTestUsers"]


def test_bad_configuration_exits_2_naming_every_variable_before_any_work(job_env):
    env = {k: v for k, v in job_env.items() if k not in ("MODEL_NAME", "DATA_URI")}
    result = run_training({**env, "EPOCHS": "many"})
    assert result.returncode == 2
    for fragment in ("MODEL_NAME is not set", "DATA_URI is not set", "EPOCHS='many'"):
        assert fragment in result.stderr
    assert not Path(job_env["MODELS_URI"]).exists()


def test_a_malformed_csv_exits_2_naming_file_and_line_and_publishes_nothing(job_env, export):
    bad = next(export.rglob("interactions-2.csv"))
    with bad.open("a", encoding="utf-8") as handle:
        handle.write("u9999,i0001,5\n")
    result = run_training(job_env)
    assert result.returncode == 2
    lines = len(bad.read_text(encoding="utf-8").splitlines())
    assert f"{bad}, line {lines}: expected 4 fields" in result.stderr
    assert not Path(job_env["MODELS_URI"]).exists()


def test_a_run_against_azure_blob_storage(job_env, azurite, azure_prefix, tmp_path):
    service = azurite.service()
    container = service.get_container_client(AZURITE_CONTAINER)
    day = write_synthetic_export(tmp_path / "upload", **SMALL)
    for path in sorted(day.glob("*.csv")):
        container.upload_blob(f"{azure_prefix}/exports/2026/11/27/{path.name}", path.read_bytes())
    data_uri = f"az://{AZURITE_CONTAINER}/{azure_prefix}/exports"
    models_uri = f"az://{AZURITE_CONTAINER}/{azure_prefix}/models"
    env = {
        **job_env,
        "DATA_URI": data_uri,
        "MODELS_URI": models_uri,
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
    }
    result = run_training(env)
    assert result.returncode == 0, result.stderr
    assert DEV_KEY not in result.stderr

    prefix = f"{azure_prefix}/models/recs/{VERSION}/"
    blobs = {blob.name[len(prefix) :] for blob in container.list_blobs(name_starts_with=prefix)}
    assert blobs == {*FILE_NAMES, artifact.MANIFEST, artifact.COMPLETE}
    manifest = json.loads(container.download_blob(prefix + artifact.MANIFEST).readall())
    assert manifest["data"]["uri"] == data_uri
    assert [f["path"] for f in manifest["data"]["files"]] == [
        "2026/11/27/interactions-1.csv",
        "2026/11/27/interactions-2.csv",
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
        assert artifact.verify(f"{models_uri}/recs/{VERSION}")["versionId"] == VERSION

    again = run_training(env)
    assert again.returncode == 1 and "already holds" in again.stderr


def test_unreachable_storage_exits_1_without_training_or_leaking_the_key(job_env):
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};"
        f"AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{free_port()}/{DEV_ACCOUNT};"
    )
    env = {
        **job_env,
        "MODELS_URI": "az://models/prod",
        "AZURE_STORAGE_CONNECTION_STRING": connection_string,
    }
    result = run_training(env)
    assert result.returncode == 1
    assert "az://models/prod" in result.stderr
    assert "epoch" not in result.stderr
    assert DEV_KEY not in result.stderr
