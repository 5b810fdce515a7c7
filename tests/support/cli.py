"""The real `mlrelease` command line as a subprocess, isolated from the caller's pipeline env."""

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Azure Pipelines variables change what commands write (provenance stamps): tests set their own.
PIPELINE_PREFIXES = ("BUILD_", "SYSTEM_", "TF_BUILD")


def run_mlrelease(
    *args: object,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = REPO,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m mlrelease ARGS` with the pipeline variables removed and `env` added."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(PIPELINE_PREFIXES)}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mlrelease", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
    )
