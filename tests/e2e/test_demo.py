"""The rehearsal is the integration test: the README's main command, end to end, real charts."""

import json
import os
import re
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


def test_three_builds_were_trained_served_and_verified(demo):
    workdir, result = demo
    lines = result.stderr.splitlines()
    assert not any(line.startswith("train   ") for line in result.stdout.splitlines())
    assert sum(line.startswith("train   ") for line in lines) == 3
    assert sum(line.startswith("serve   ") for line in lines) == 3
    assert "passed the offline quality gate" in result.stderr
    # The oldest was retired and pruned; the promoted and the rolled-back one remain.
    models = sorted((workdir / "models" / "recommender").iterdir())
    assert len(models) == 2
    for model in models:
        assert (model / "_COMPLETE").exists()
        manifest = json.loads((model / "manifest.json").read_text())
        assert manifest["versionId"] == model.name
        assert manifest["provenance"]["reason"] == "Manual"
    rates = [json.loads((m / "manifest.json").read_text())["hyperparameters"] for m in models]
    assert [rate["learningRate"] for rate in rates] == [0.05, 0.25]


def _steps(workdir):
    return {step["title"]: step for step in json.loads((workdir / "observations.json").read_text())}


def test_observed_split_matches_the_rendered_virtual_service(demo):
    workdir, _ = demo
    steps = _steps(workdir)
    assert len(steps) == 4
    for step in steps.values():
        assert sum(step["observed"].values()) == step["requests"]
        for version, weight in step["configured"].items():
            observed = 100 * step["observed"].get(version, 0) / step["requests"]
            assert abs(observed - weight) <= TOLERANCE_PERCENT, (step["title"], version, observed)
    canary = next(step for title, step in steps.items() if "A/B rule" in title)
    canary_version = next(v for v, w in canary["configured"].items() if w == 10)
    assert canary["abObserved"] == {canary_version: canary["abRequests"]}
    promoted = steps[f"promote {canary_version}"]
    assert promoted["configured"][canary_version] == 100


def test_a_good_build_is_promoted_and_a_bad_one_rolled_back_by_real_queries(demo):
    workdir, result = demo
    report = json.loads((workdir / "rollouts.json").read_text())
    good, bad = report["rollouts"]
    assert good["outcome"] == "promoted"
    assert good["agreement"]["passed"] and good["agreement"]["overlapAtK"] >= 0.9
    assert good["analysis"]["passed"]
    assert {row["result"] for row in good["analysis"]["rows"]} == {"pass"}

    assert bad["outcome"] == "rolled back" and bad["baseline"] == good["candidate"]
    assert not bad["agreement"]["passed"] and bad["agreement"]["overlapAtK"] < 0.3
    assert not bad["analysis"]["passed"]
    rows = {row["name"]: row for row in bad["analysis"]["rows"]}
    assert rows["request-count"]["result"] == "pass"  # judged on enough traffic
    assert rows["top1-score-median"]["result"] == "FAIL"
    assert rows["top1-score-median"]["value"] > 10 * rows["top1-score-median"]["baseline"]
    assert "istio_requests_total{" in rows["request-count"]["query"]

    restored = _steps(workdir)[f"roll back {bad['candidate']}: routing restored"]
    assert restored["configured"][good["candidate"]] == 100
    assert restored["observed"] == {good["candidate"]: restored["requests"]}
    assert "verdict: failing: roll back" in result.stderr


def test_old_versions_are_retired_from_routing_releases_and_store(demo):
    workdir, _ = demo
    report = json.loads((workdir / "rollouts.json").read_text())
    oldest = sorted(p.name for p in workdir.glob("v*"))[0]
    assert report["retired"] == [oldest] and report["pruned"] == [oldest]
    retired = yaml.safe_load((workdir / "routing" / "99-retired.yaml").read_text())
    assert oldest not in [v["name"] for v in retired["versions"]]


def test_release_summary_is_markdown_with_versions_weights_and_verdicts(demo):
    workdir, result = demo
    summary = (workdir / "release-summary.md").read_text()
    assert summary.startswith("# Release summary")
    assert summary in result.stdout
    # The quality gate's minimum of held-out users is shown with the number it judged on.
    assert "held-out users (min)" in summary
    assert "gate    judged on" in result.stderr
    canary = json.loads((workdir / "observations.json").read_text())[0]
    for version, weight in canary["configured"].items():
        assert f"| `{version}` | {weight}% |" in summary
    assert ": promoted" in summary and ": rolled back" in summary
    assert "#### Model agreement: failing" in summary
    assert "| top1-score-median |" in summary and "histogram_quantile(0.5" in summary
    assert "## Retired" in summary


def test_every_server_it_started_is_stopped(demo):
    workdir, result = demo
    logs = sorted((workdir / "logs").glob("scoring-*.log"))
    assert len(logs) == 3
    ports = [
        yaml.safe_load(values.read_text())["server"]["port"]
        for values in sorted(workdir.glob("v*/scoring-values.yaml"))
    ]
    # Prometheus and the mesh stand-in's proxy, as the report names them.
    ports += [int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", _metrics_line(result))]
    assert len(ports) == 5
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def _metrics_line(result):
    return next(line for line in result.stderr.splitlines() if line.startswith("metrics "))


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
    assert result.stderr.count("published and verified at az://models/recommender/") == 3
    assert "verdict: failing: roll back" in result.stderr
    for values in workdir.glob("v*/*-values.yaml"):
        text = values.read_text()
        assert "model-store" in text  # the Secret is named ...
        assert DEV_KEY not in text  # ... its value never written
    assert DEV_KEY not in result.stdout + result.stderr
    assert DEV_KEY not in (workdir / "release-summary.md").read_text()


def test_the_release_picture_is_written_and_embedded(demo):
    workdir, _ = demo
    picture = workdir / "release-traffic.png"
    data = picture.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    summary = (workdir / "release-summary.md").read_text()
    assert "](release-traffic.png)" in summary
    steps = json.loads((workdir / "observations.json").read_text())
    # Every canary step the analysis judged carries its verdict into the picture's data.
    judged = [step["verdict"] for step in steps if step["title"].startswith("canary ")]
    assert judged == ["healthy", "failing"]
