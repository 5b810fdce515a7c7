"""Azurite for the test suites: found in the project's environment, or a clear skip/failure."""

from pathlib import Path

from mlrelease.rehearsal.azurite import INSTALL_HINT, find_azurite
from support.ci import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_CONTAINER = "models"


def require_azurite() -> str:
    """The azurite-blob script; skip without it, but fail in CI where it must be installed."""
    binary = find_azurite(REPO_ROOT)
    if binary is None:
        unavailable(f"azurite-blob not found; {INSTALL_HINT}")
    return binary
