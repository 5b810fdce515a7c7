"""Fixtures for the training tests: small synthetic exports, the Job's environment, Azurite."""

import os
import uuid
from pathlib import Path

import pytest
from support.training import BUILD_NUMBER, FAST_SETTINGS, SMALL

from mlrelease.sampledata import write_synthetic_export
from mlrelease.store import ACCOUNT_URL_ENV, CONNECTION_STRING_ENV


@pytest.fixture
def export(tmp_path) -> Path:
    """A small synthetic export; returns the export root (DATA_URI)."""
    root = tmp_path / "exports"
    write_synthetic_export(root, **SMALL)
    return root


@pytest.fixture
def job_env(tmp_path, export) -> dict[str, str]:
    """The Job's environment against local folders, without the developer's Azure settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in (CONNECTION_STRING_ENV, ACCOUNT_URL_ENV)
    }
    env.update(
        {
            "BUILD_NUMBER": BUILD_NUMBER,
            "MODEL_NAME": "recs",
            "DATA_URI": str(export),
            "MODELS_URI": str(tmp_path / "models"),
            "PROVENANCE": (
                '{"buildNumber": "20261127.7", "commit": "0123abcd", '
                '"branch": "refs/heads/main", "buildId": "77"}'
            ),
            **FAST_SETTINGS,
        }
    )
    return env


@pytest.fixture
def azure_prefix() -> str:
    """A fresh prefix in the Azurite container, so tests never share blobs."""
    return f"training-{uuid.uuid4().hex[:12]}"
