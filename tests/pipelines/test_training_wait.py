"""The training stage's Job wait, run as the pipeline runs it, against a kubectl stand-in.

The command line is taken from templates/jobs/train.yml (not retyped) and run with bash; a
small `kubectl` on PATH answers `wait --for=condition=X` the way the API server would for a
Job that completes or fails after a moment. A failed Job must end the wait at once, not at
its 7,500 s timeout.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest
from support.pipelines import (
    PIPELINES,
    REPO,
    command_lines,
    declared_parameters,
    defined_variables,
    load,
    script_steps,
    substitute,
)

# Answers `kubectl wait --for=condition=$OUTCOME` after 0.2 s; any other condition never holds
# (it sleeps until killed, as a real wait would until its timeout); OUTCOME=error fails at once.
FAKE_KUBECTL = """#!/usr/bin/env bash
[[ ${OUTCOME} == error ]] && { echo 'Error from server (NotFound)' >&2; exit 1; }
for argument in "$@"; do
    if [[ $argument == --for=condition=${OUTCOME} ]]; then sleep 0.2; exit 0; fi
done
exec sleep 600
"""


def wait_command(release_files: Path) -> list[str]:
    path = PIPELINES / "templates" / "jobs" / "train.yml"
    variables = {**defined_variables(), "releaseFiles": str(release_files)}
    parameters = declared_parameters(path)
    (argv,) = [
        argv
        for script, _ in script_steps(load(path))
        for argv in command_lines(substitute(script, parameters, variables))
        if argv[:1] == ["bash"] and argv[1].endswith("wait_for_job.sh")
    ]
    return argv


@pytest.fixture
def release_files(tmp_path):
    """The artifact layout the package job publishes: tools/wait_for_job.sh inside it."""
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "wait_for_job.sh").write_bytes(
        (REPO / "tools" / "wait_for_job.sh").read_bytes()
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    return tmp_path


def run_wait(release_files: Path, outcome: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {
        **os.environ,
        "OUTCOME": outcome,
        "PATH": f"{release_files / 'bin'}:{os.environ['PATH']}",
    }
    started = time.monotonic()
    result = subprocess.run(
        wait_command(release_files), env=env, capture_output=True, text=True, timeout=60
    )
    return result, time.monotonic() - started


def test_the_wait_succeeds_when_the_job_completes(release_files):
    result, _ = run_wait(release_files, "complete")
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout


def test_a_failed_job_ends_the_wait_at_once(release_files):
    result, seconds = run_wait(release_files, "failed")
    assert result.returncode == 1
    assert "failed" in result.stderr
    assert seconds < 30  # the step's timeout is 7,500 s


def test_a_kubectl_error_fails_the_wait(release_files):
    result, _ = run_wait(release_files, "error")
    assert result.returncode == 1


def test_the_package_job_ships_the_script_the_train_job_runs():
    package = load(PIPELINES / "templates" / "jobs" / "package.yml")
    shipped = " ".join(script for script, _ in script_steps(package))
    assert "cp tools/wait_for_job.sh $(Build.ArtifactStagingDirectory)/tools/" in shipped
