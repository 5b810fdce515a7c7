"""Shared constants and functions of the training tests (a uniquely named module, so test
files can import it without clashing with other suites' conftest modules).

The training Job is run the way Kubernetes runs it: `python -m training` in a subprocess,
configured only by environment variables. Azure cases use the shared `azurite` fixture.
"""

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_NUMBER = "20261127.7"

# Small enough to train in well under a second; big enough to beat random ranking clearly.
SMALL = {"users": 150, "items": 60, "interactions_per_user": 12, "files": 2}
FAST_SETTINGS = {"EPOCHS": "10", "COMPONENTS": "8", "THREADS": "1", "MIN_PRECISION_AT_K": "0.05"}


def run_training(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m training` with exactly `env`, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "training"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
