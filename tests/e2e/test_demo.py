"""The rehearsal is the integration test: the README's main command, end to end, real charts."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.azurite import require_azurite

from mlrelease.rehearsal.azurite import DEV_KEY

REPO = Path(__file__).resolve().parents[2]
TOLERANCE_PERCENT = 4  # 1000 requests at 10%: one standard deviation is about 1 point


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo") / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILD_", "SYSTEM_"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrelease",
            "demo",
            "--workdir",
            str(workdir),
            "--requests",
            "1000",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, result


def test_both_builds_were_trained_served_and_verified(demo):
    workdir, result = demo
    lines = result.stderr.splitlines()
    assert not any(line.startswith("train   ") for line in result.stdout.splitlines())
    assert sum(line.startswith("train   ") for line in lines) == 2
    assert sum(line.startswith("serve   ") for line in lines) == 2
    models = sorted((workdir / "models" / "recommender").iterdir())
    assert len(models) == 2
    for model in models:
        assert (model / "_COMPLETE").exists()
        manifest = json.loads((model / "manifest.json").read_text())
        assert manifest["versionId"] == model.name
        assert manifest["provenance"]["reason"] == "Manual"


def test_observed_split_matches_the_rendered_virtual_service(demo):
    workdir, _ = demo
    canary, promoted = json.loads((workdir / "observations.json").read_text())
    for step in (canary, promoted):
        assert sum(step["observed"].values()) == step["requests"]
        for version, weight in step["configured"].items():
            observed = 100 * step["observed"].get(version, 0) / step["requests"]
            assert abs(observed - weight) <= TOLERANCE_PERCENT, (step["title"], version, observed)
    canary_version = next(v for v, w in canary["configured"].items() if w == 10)
    assert canary["abObserved"] == {canary_version: canary["abRequests"]}
    assert promoted["configured"][canary_version] == 100


def test_release_summary_is_markdown_with_versions_and_weights(demo):
    workdir, result = demo
    summary = (workdir / "release-summary.md").read_text()
    assert summary.startswith("# Release summary")
    assert summary in result.stdout
    canary = json.loads((workdir / "observations.json").read_text())[0]
    for version, weight in canary["configured"].items():
        assert f"| `{version}` | {weight}% |" in summary


def test_every_server_it_started_is_stopped(demo):
    workdir, _ = demo
    logs = sorted((workdir / "logs").glob("scoring-*.log"))
    assert len(logs) == 2
    for values in sorted(workdir.glob("v*/scoring-values.yaml")):
        port = yaml.safe_load(values.read_text())["server"]["port"]
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_demo_refuses_a_workdir_that_holds_anything(tmp_path):
    (tmp_path / "leftover").write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "mlrelease", "demo", "--workdir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "is not empty" in result.stderr


def test_demo_on_azurite_passes_the_connection_string_only_as_a_secret(tmp_path):
    require_azurite()
    workdir = tmp_path / "run"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mlrelease", "demo", "--workdir", str(workdir)),
            *("--store", "azurite", "--requests", "200"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={k: v for k, v in os.environ.items() if not k.startswith(("BUILD_", "SYSTEM_"))},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stderr.count("published and verified at az://models/recommender/") == 2
    for values in workdir.glob("v*/*-values.yaml"):
        text = values.read_text()
        assert "model-store" in text  # the Secret is named ...
        assert DEV_KEY not in text  # ... its value never written
    assert DEV_KEY not in result.stdout + result.stderr
    assert DEV_KEY not in (workdir / "release-summary.md").read_text()
