"""Azurite for the test suites: found in the project's environment, or a clear skip/failure."""

import os
from pathlib import Path

import pytest

from mlrelease.rehearsal.azurite import INSTALL_HINT, find_azurite

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_CONTAINER = "models"


def require_azurite() -> str:
    """The azurite-blob script; skip without it, but fail in CI where it must be installed."""
    binary = find_azurite(REPO_ROOT)
    if binary is None:
        reason = f"azurite-blob not found; {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI must run the Azure Blob Storage tests)")
        pytest.skip(reason)
    return binary
